/**
 * Bad input: every refused request answers 4xx with `{error:{code,message,field?}}` naming the
 * field, changes nothing, and never turns into a 5xx. Then a seeded fuzz loop of random JSON
 * bodies, after which the broker must still answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { assertApiError, BOOTSTRAP_TOKEN, seededRandom, startBrokerHarness, storeState, type BrokerHarness, type CallOptions } from '../../support/broker-harness.ts';
import { STORE_DIALECTS, storeSkipReason } from '../../support/stores.ts';

const BODY_LIMIT = 2048;

type Who = 'bob' | 'carol' | 'admin' | 'node1' | 'none';

interface Case {
  readonly name: string;
  readonly request: { method: string; path: string; as?: Who; body?: unknown; rawBody?: string; headers?: Record<string, string> };
  readonly wantStatus: number;
  readonly wantCode: string;
  /** The field the error must name; `null`: the error names none. */
  readonly wantField: string | null;
}

const APPS = '/domains/bobs/apps';
const app = (fields: Record<string, unknown>) => ({ name: 'fresh', cartridge: 'nodejs', ...fields });
const district = (fields: Record<string, unknown>) => ({ name: 'fresh', ...fields });
const register = (fields: Record<string, unknown>) => ({ name: 'fresh-node', gearProfile: 'small', maxActiveGears: 5, ...fields });
const heartbeat = (gears: Record<string, unknown>) => ({ maxActiveGears: 5, gears: { started: 0, idle: 0, stopped: 0, unknown: 0, ...gears } });

function post(path: string, body: unknown, as: Who = 'bob') {
  return { method: 'POST', path, as, body };
}

const CASES: Case[] = [
  // domains
  { name: 'domain: missing name', request: post('/domains', {}), wantStatus: 400, wantCode: 'missing_field', wantField: 'name' },
  { name: 'domain: no body at all', request: { method: 'POST', path: '/domains', as: 'bob' }, wantStatus: 400, wantCode: 'missing_field', wantField: 'name' },
  { name: 'domain: unknown field', request: post('/domains', { name: 'fresh', owner: 'carol' }), wantStatus: 400, wantCode: 'unknown_field', wantField: 'owner' },
  { name: 'domain: name is a number', request: post('/domains', { name: 5 }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'domain: upper-case name', request: post('/domains', { name: 'Fresh' }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'domain: 33-character name', request: post('/domains', { name: 'a'.repeat(33) }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'domain: name with dashes', request: post('/domains', { name: 'my-domain' }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'domain: empty name', request: post('/domains', { name: '' }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'domain: duplicate name (another user)', request: post('/domains', { name: 'bobs' }, 'carol'), wantStatus: 409, wantCode: 'domain_exists', wantField: 'name' },
  { name: 'domain: body is an array', request: post('/domains', [{ name: 'fresh' }]), wantStatus: 400, wantCode: 'invalid_field', wantField: 'body' },
  { name: 'domain: body is a string', request: post('/domains', 'fresh'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'body' },
  { name: 'domain: invalid JSON', request: { method: 'POST', path: '/domains', as: 'bob', rawBody: '{"name": "fresh",' }, wantStatus: 400, wantCode: 'invalid_json', wantField: 'body' },
  {
    name: 'domain: empty body declared as JSON',
    request: { method: 'POST', path: '/domains', as: 'bob', rawBody: '' },
    wantStatus: 400,
    wantCode: 'invalid_json',
    wantField: 'body',
  },
  {
    name: 'domain: body larger than API_BODY_LIMIT',
    request: { method: 'POST', path: '/domains', as: 'bob', rawBody: JSON.stringify({ name: 'fresh', pad: 'x'.repeat(BODY_LIMIT) }) },
    wantStatus: 413,
    wantCode: 'body_too_large',
    wantField: 'body',
  },
  {
    name: 'domain: wrong content type',
    request: { method: 'POST', path: '/domains', as: 'bob', rawBody: 'name=fresh', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    wantStatus: 415,
    wantCode: 'unsupported_media_type',
    wantField: 'Content-Type',
  },
  // apps
  { name: 'app: missing name', request: post(APPS, { cartridge: 'nodejs' }), wantStatus: 400, wantCode: 'missing_field', wantField: 'name' },
  { name: 'app: missing cartridge', request: post(APPS, { name: 'fresh' }), wantStatus: 400, wantCode: 'missing_field', wantField: 'cartridge' },
  { name: 'app: unknown field', request: post(APPS, app({ size: 'small' })), wantStatus: 400, wantCode: 'unknown_field', wantField: 'size' },
  { name: 'app: name is a number', request: post(APPS, app({ name: 5 })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'app: upper-case name', request: post(APPS, app({ name: 'Web' })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'app: 33-character name', request: post(APPS, app({ name: 'w'.repeat(33) })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'app: name with dashes', request: post(APPS, app({ name: 'my-app' })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'app: empty name', request: post(APPS, app({ name: '' })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'app: cartridge not offered', request: post(APPS, app({ cartridge: 'php' })), wantStatus: 400, wantCode: 'unknown_cartridge', wantField: 'cartridge' },
  { name: 'app: cartridge is a number', request: post(APPS, app({ cartridge: 7 })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'cartridge' },
  { name: 'app: unknown gear profile', request: post(APPS, app({ gearProfile: 'huge' })), wantStatus: 400, wantCode: 'unknown_gear_profile', wantField: 'gearProfile' },
  { name: 'app: gears as a string', request: post(APPS, app({ gears: '3' })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'gears' },
  { name: 'app: gears zero', request: post(APPS, app({ gears: 0 })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'gears' },
  { name: 'app: gears negative', request: post(APPS, app({ gears: -2 })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'gears' },
  { name: 'app: gears huge', request: post(APPS, app({ gears: 1e12 })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'gears' },
  { name: 'app: gears fractional', request: post(APPS, app({ gears: 1.5 })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'gears' },
  { name: 'app: scale.max below scale.min', request: post(APPS, app({ scale: { min: 3, max: 2 } })), wantStatus: 400, wantCode: 'invalid_input', wantField: 'scale.max' },
  { name: 'app: scale.min zero', request: post(APPS, app({ scale: { min: 0, max: 2 } })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'scale.min' },
  { name: 'app: scale without max', request: post(APPS, app({ scale: { min: 1 } })), wantStatus: 400, wantCode: 'missing_field', wantField: 'scale.max' },
  { name: 'app: unknown field inside scale', request: post(APPS, app({ scale: { min: 1, max: 2, step: 1 } })), wantStatus: 400, wantCode: 'unknown_field', wantField: 'scale.step' },
  { name: 'app: scale is a number', request: post(APPS, app({ scale: 3 })), wantStatus: 400, wantCode: 'invalid_field', wantField: 'scale' },
  { name: 'app: gears and scale both', request: post(APPS, app({ gears: 2, scale: { min: 1, max: 3 } })), wantStatus: 400, wantCode: 'invalid_input', wantField: 'scale' },
  { name: 'app: duplicate name in the domain', request: post(APPS, app({ name: 'web' })), wantStatus: 409, wantCode: 'app_exists', wantField: 'name' },
  // scale
  { name: 'scale: empty body', request: post(`${APPS}/web/scale`, {}), wantStatus: 400, wantCode: 'missing_field', wantField: 'gears' },
  { name: 'scale: gears and min both', request: post(`${APPS}/web/scale`, { gears: 2, min: 1 }), wantStatus: 400, wantCode: 'invalid_input', wantField: 'gears' },
  { name: 'scale: gears as a string', request: post(`${APPS}/web/scale`, { gears: '2' }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'gears' },
  { name: 'scale: max below min', request: post(`${APPS}/web/scale`, { min: 3, max: 2 }), wantStatus: 400, wantCode: 'invalid_input', wantField: 'max' },
  { name: 'scale: max zero', request: post(`${APPS}/web/scale`, { max: 0 }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'max' },
  { name: 'scale: unknown field', request: post(`${APPS}/web/scale`, { count: 2 }), wantStatus: 400, wantCode: 'unknown_field', wantField: 'count' },
  // path parameters and query strings
  { name: 'path: invalid domain name', request: { method: 'GET', path: '/domains/BAD!/apps', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'domain' },
  { name: 'path: invalid app name', request: { method: 'GET', path: '/domains/bobs/apps/Web', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'app' },
  { name: 'path: 33-character domain name', request: { method: 'DELETE', path: `/domains/${'d'.repeat(33)}`, as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'domain' },
  { name: 'path: invalid gear id', request: { method: 'GET', path: '/gears/a$b', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'id' },
  { name: 'path: invalid node name', request: { method: 'GET', path: '/nodes/-bad-', as: 'admin' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'path: invalid district name', request: { method: 'GET', path: '/districts/East', as: 'admin' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'query: limit not a number', request: { method: 'GET', path: '/events?limit=abc', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'limit' },
  { name: 'query: limit zero', request: { method: 'GET', path: '/events?limit=0', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'limit' },
  { name: 'query: limit too large', request: { method: 'GET', path: '/events?limit=1001', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'limit' },
  { name: 'query: after negative', request: { method: 'GET', path: '/events?after=-1', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'after' },
  { name: 'query: kind with spaces', request: { method: 'GET', path: '/events?kind=app%20created', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'kind' },
  { name: 'query: follow not a boolean', request: { method: 'GET', path: '/events?follow=maybe', as: 'bob' }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'follow' },
  { name: 'query: unknown parameter', request: { method: 'GET', path: '/events?since=3', as: 'bob' }, wantStatus: 400, wantCode: 'unknown_field', wantField: 'since' },
  // users and tokens
  { name: 'user: missing login', request: post('/users', {}, 'admin'), wantStatus: 400, wantCode: 'missing_field', wantField: 'login' },
  { name: 'user: upper-case login', request: post('/users', { login: 'Dave' }, 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'login' },
  { name: 'user: unknown role', request: post('/users', { login: 'dave', role: 'root' }, 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'role' },
  { name: 'user: negative maxGears', request: post('/users', { login: 'dave', maxGears: -1 }, 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'maxGears' },
  { name: 'user: maxGears as a string', request: post('/users', { login: 'dave', maxGears: '5' }, 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'maxGears' },
  { name: 'user: duplicate login', request: post('/users', { login: 'bob' }, 'admin'), wantStatus: 409, wantCode: 'user_exists', wantField: 'login' },
  { name: 'token: expiry under a minute', request: post('/user/tokens', { expiresInSeconds: 10 }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'expiresInSeconds' },
  { name: 'token: empty name', request: post('/user/tokens', { name: '' }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'token: name is a number', request: post('/user/tokens', { name: 5 }), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'token: unknown field', request: post('/user/tokens', { scope: 'all' }), wantStatus: 400, wantCode: 'unknown_field', wantField: 'scope' },
  // districts
  { name: 'district: missing name', request: post('/districts', {}, 'admin'), wantStatus: 400, wantCode: 'missing_field', wantField: 'name' },
  { name: 'district: name with dashes', request: post('/districts', { name: 'us-east' }, 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'name' },
  { name: 'district: duplicate name', request: post('/districts', { name: 'east' }, 'admin'), wantStatus: 409, wantCode: 'district_exists', wantField: 'name' },
  { name: 'district: unknown gear profile', request: post('/districts', district({ gearProfile: 'huge' }), 'admin'), wantStatus: 400, wantCode: 'unknown_gear_profile', wantField: 'gearProfile' },
  { name: 'district: maxCapacity zero', request: post('/districts', district({ maxCapacity: 0 }), 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'maxCapacity' },
  { name: 'district: firstUid as a string', request: post('/districts', district({ firstUid: '1000' }), 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'firstUid' },
  { name: 'district: firstUid huge', request: post('/districts', district({ firstUid: 2 ** 40 }), 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'firstUid' },
  { name: 'capacity: neither add nor remove', request: post('/districts/east/capacity', {}, 'admin'), wantStatus: 400, wantCode: 'invalid_input', wantField: 'add' },
  { name: 'capacity: add and remove both', request: post('/districts/east/capacity', { add: 1, remove: 1 }, 'admin'), wantStatus: 400, wantCode: 'invalid_input', wantField: 'add' },
  { name: 'capacity: add zero', request: post('/districts/east/capacity', { add: 0 }, 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'add' },
  { name: 'capacity: remove more than the pool', request: post('/districts/east/capacity', { remove: 1_000_000 }, 'admin'), wantStatus: 409, wantCode: 'capacity_in_use', wantField: 'remove' },
  { name: 'add node: missing node', request: post('/districts/east/nodes', {}, 'admin'), wantStatus: 400, wantCode: 'missing_field', wantField: 'node' },
  { name: 'add node: invalid host name', request: post('/districts/east/nodes', { node: 'bad host' }, 'admin'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'node' },
  { name: 'add node: unknown node', request: post('/districts/east/nodes', { node: 'ghost' }, 'admin'), wantStatus: 404, wantCode: 'node_not_found', wantField: 'node' },
  // nodes
  { name: 'register: missing maxActiveGears', request: post('/nodes/register', { name: 'fresh-node', gearProfile: 'small' }, 'none'), wantStatus: 400, wantCode: 'missing_field', wantField: 'maxActiveGears' },
  { name: 'register: unknown gear profile', request: post('/nodes/register', register({ gearProfile: 'huge' }), 'none'), wantStatus: 400, wantCode: 'unknown_gear_profile', wantField: 'gearProfile' },
  { name: 'register: maxActiveGears zero', request: post('/nodes/register', register({ maxActiveGears: 0 }), 'none'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'maxActiveGears' },
  { name: 'register: endpoint not http', request: post('/nodes/register', register({ endpoint: 'ftp://10.0.0.1' }), 'none'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'endpoint' },
  { name: 'register: unknown district', request: post('/nodes/register', register({ district: 'nosuch' }), 'none'), wantStatus: 404, wantCode: 'district_not_found', wantField: 'district' },
  { name: 'register: district of another profile', request: post('/nodes/register', register({ gearProfile: 'medium', district: 'east' }), 'none'), wantStatus: 409, wantCode: 'profile_mismatch', wantField: 'district' },
  { name: 'heartbeat: missing gears', request: post('/nodes/node1/heartbeat', { maxActiveGears: 5 }, 'node1'), wantStatus: 400, wantCode: 'missing_field', wantField: 'gears' },
  { name: 'heartbeat: missing a count', request: post('/nodes/node1/heartbeat', { maxActiveGears: 5, gears: { started: 0, idle: 0, stopped: 0 } }, 'node1'), wantStatus: 400, wantCode: 'missing_field', wantField: 'gears.unknown' },
  { name: 'heartbeat: negative count', request: post('/nodes/node1/heartbeat', heartbeat({ started: -1 }), 'node1'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'gears.started' },
  { name: 'heartbeat: unknown count', request: post('/nodes/node1/heartbeat', heartbeat({ running: 1 }), 'node1'), wantStatus: 400, wantCode: 'unknown_field', wantField: 'gears.running' },
  { name: 'heartbeat: maxActiveGears zero', request: post('/nodes/node1/heartbeat', { ...heartbeat({}), maxActiveGears: 0 }, 'node1'), wantStatus: 400, wantCode: 'invalid_field', wantField: 'maxActiveGears' },
  { name: 'gear report: unknown state', request: { method: 'PUT', path: '/nodes/node1/gears/GEAR', as: 'node1', body: { observedState: 'running', endpoint: null } }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'observedState' },
  { name: 'gear report: endpoint without a port', request: { method: 'PUT', path: '/nodes/node1/gears/GEAR', as: 'node1', body: { observedState: 'started', endpoint: '10.0.0.1' } }, wantStatus: 400, wantCode: 'invalid_field', wantField: 'endpoint' },
  { name: 'gear report: missing endpoint', request: { method: 'PUT', path: '/nodes/node1/gears/GEAR', as: 'node1', body: { observedState: 'started' } }, wantStatus: 400, wantCode: 'missing_field', wantField: 'endpoint' },
  // credentials
  { name: 'auth: not a Bearer header', request: { method: 'GET', path: '/user', headers: { authorization: 'Token abc' } }, wantStatus: 401, wantCode: 'unauthenticated', wantField: 'Authorization' },
  { name: 'auth: Bearer without a token', request: { method: 'GET', path: '/user', headers: { authorization: 'Bearer' } }, wantStatus: 401, wantCode: 'unauthenticated', wantField: 'Authorization' },
  { name: 'auth: two tokens', request: { method: 'GET', path: '/user', headers: { authorization: 'Bearer a b' } }, wantStatus: 401, wantCode: 'unauthenticated', wantField: 'Authorization' },
  { name: 'auth: unknown user token', request: { method: 'POST', path: '/domains', body: { name: 'fresh' }, headers: { authorization: 'Bearer gtu_unknown' } }, wantStatus: 401, wantCode: 'unauthenticated', wantField: null },
  { name: 'auth: unknown node credential', request: { method: 'POST', path: '/nodes/node1/heartbeat', body: heartbeat({}), headers: { authorization: 'Bearer gtn_unknown' } }, wantStatus: 401, wantCode: 'unauthenticated', wantField: null },
];

interface Fixture {
  readonly h: BrokerHarness;
  readonly tokens: Record<Exclude<Who, 'none'>, string>;
  readonly gearId: string;
}

function optionsFor(fixture: Fixture, request: Case['request']): CallOptions {
  const as = request.as ?? 'none';
  const token = as === 'none' ? (request.path === '/nodes/register' ? BOOTSTRAP_TOKEN : undefined) : fixture.tokens[as];
  return {
    ...(token === undefined ? {} : { token }),
    ...(request.body === undefined ? {} : { body: request.body }),
    ...(request.rawBody === undefined ? {} : { rawBody: request.rawBody }),
    ...(request.headers === undefined ? {} : { headers: request.headers }),
  };
}

/** A random JSON value: mixed types, nesting, long strings, edge numbers. */
function randomValue(random: () => number, depth: number): unknown {
  const pick = Math.floor(random() * (depth > 2 ? 7 : 9));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return [0, -1, 1, 2, 3, 1.5, -0.5, 1e9, -1e9, 2 ** 53, 1e308, 10_000, 10_001][Math.floor(random() * 13)];
    case 3:
      return Math.floor(random() * 20);
    case 4:
      return ['', 'web', 'nodejs', 'static', 'small', 'medium', 'huge', 'A', 'east', 'a-b', '😀', '\u0000', "'; drop table apps; --", '../..'][Math.floor(random() * 14)];
    case 5:
      return Array.from({ length: Math.floor(random() * 300) }, () => String.fromCharCode(32 + Math.floor(random() * 0x250))).join('');
    case 6:
      return 'z'.repeat(Math.floor(random() * 3000));
    case 7:
      return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
    default:
      return randomObject(random, depth + 1, []);
  }
}

function randomObject(random: () => number, depth: number, keys: readonly string[]): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const count = Math.floor(random() * 5);
  for (let index = 0; index < count; index++) {
    const key = keys.length > 0 && random() < 0.8 ? keys[Math.floor(random() * keys.length)]! : ['x', '__proto__', 'constructor', '', 'min', 'max'][Math.floor(random() * 6)]!;
    object[key] = randomValue(random, depth);
  }
  return object;
}

for (const dialect of STORE_DIALECTS) {
  describe(`REST API on ${dialect}: bad input`, { skip: storeSkipReason(dialect) }, () => {
    let fixture: Fixture;
    before(async () => {
      const h = await startBrokerHarness(dialect, { env: { API_BODY_LIMIT: String(BODY_LIMIT) } });
      const bob = await h.createUser('bob');
      const carol = await h.createUser('carol');
      await h.createDomain(bob, 'bobs');
      await h.createDistrict('east');
      const [node1] = await h.registerNodes(1, { district: 'east' });
      const web = await h.ok('POST', APPS, { token: bob.token, body: { name: 'web', cartridge: 'nodejs' }, status: 201 });
      fixture = { h, tokens: { bob: bob.token, carol: carol.token, admin: h.admin.token, node1: node1!.credential }, gearId: web.gears[0].id };
    });
    after(() => fixture?.h.close());

    for (const testCase of CASES) {
      it(`${testCase.name} → ${testCase.wantStatus} ${testCase.wantCode}${testCase.wantField === null ? '' : ` (${testCase.wantField})`}`, async () => {
        const { h } = fixture;
        const before = await storeState(h.store);
        const path = testCase.request.path.replace('GEAR', fixture.gearId);
        const result = await h.call(testCase.request.method, path, optionsFor(fixture, testCase.request));
        assertApiError(result, { status: testCase.wantStatus, code: testCase.wantCode, ...(testCase.wantField === null ? {} : { field: testCase.wantField }) }, testCase.name);
        if (testCase.wantField === null) assert.equal(result.json.error.field, undefined);
        assert.equal(await storeState(h.store), before, `${testCase.name}: the refused request changed the store`);
      });
    }

    it('the cases above are valid requests once the bad part is fixed (the suite tests what it says)', async () => {
      const { h, tokens } = fixture;
      const before = await storeState(h.store);
      // One good twin per kind of request, so a refusal above is due to the bad part alone.
      await h.ok('POST', '/domains', { token: tokens.bob, body: { name: 'fresh' }, status: 201 });
      await h.ok('POST', '/domains/fresh/apps', { token: tokens.bob, body: app({ gears: 1 }), status: 201 });
      await h.ok('POST', '/domains/fresh/apps/fresh/scale', { token: tokens.bob, body: { min: 1, max: 2 } });
      await h.ok('POST', '/districts', { token: tokens.admin, body: district({ maxCapacity: 10, firstUid: 1000 }), status: 201 });
      await h.ok('POST', '/nodes/register', { token: BOOTSTRAP_TOKEN, body: register({ endpoint: 'http://10.0.0.1:7481', district: 'fresh' }), status: 201 });
      await h.ok('POST', '/nodes/node1/heartbeat', { token: tokens.node1, body: heartbeat({ started: 1 }) });
      assert.equal((await h.call('PUT', `/nodes/node1/gears/${fixture.gearId}`, { token: tokens.node1, body: { observedState: 'started', endpoint: '10.0.0.1:35000' } })).status, 204);
      await h.ok('GET', '/events?limit=5&after=0&kind=app.created&follow=false', { token: tokens.bob });
      assert.notEqual(await storeState(h.store), before);
    });

    it('fuzz: random JSON bodies to POST /domains/:d/apps and POST /districts never cause a 5xx', async () => {
      const { h, tokens } = fixture;
      const random = seededRandom(20_310_101);
      const statuses = new Map<number, number>();
      for (let round = 0; round < 300; round++) {
        const appBody = random() < 0.9 ? randomObject(random, 0, ['name', 'cartridge', 'gears', 'scale', 'gearProfile']) : randomValue(random, 0);
        const districtBody = random() < 0.9 ? randomObject(random, 0, ['name', 'gearProfile', 'firstUid', 'maxCapacity']) : randomValue(random, 0);
        for (const [path, token, body] of [
          [APPS, tokens.bob, appBody],
          ['/districts', tokens.admin, districtBody],
        ] as const) {
          const result = await h.call('POST', path, { token, rawBody: JSON.stringify(body) ?? 'null' });
          statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
          assert.ok(result.status < 500, `seeded round ${round}: POST ${path} ${JSON.stringify(body)?.slice(0, 300)} → ${result.status} ${result.text}`);
          if (result.status >= 400) assertApiError(result, { status: result.status }, `round ${round}`);
        }
      }
      // Some bodies are refused for each kind of reason; the loop is not just hitting one wall.
      assert.ok((statuses.get(400) ?? 0) > 100, `statuses: ${JSON.stringify([...statuses])}`);
      assert.ok((statuses.get(413) ?? 0) > 0, `statuses: ${JSON.stringify([...statuses])}`);
      // Raw garbage that is not JSON at all.
      for (let round = 0; round < 50; round++) {
        const garbage = Array.from({ length: Math.floor(random() * 200) }, () => String.fromCharCode(Math.floor(random() * 256))).join('');
        const result = await h.call('POST', APPS, { token: tokens.bob, rawBody: garbage });
        assert.ok(result.status >= 400 && result.status < 500, `garbage round ${round}: ${result.status} ${result.text}`);
      }
      assert.equal((await h.call('GET', '/health')).status, 200);
      assert.equal((await h.ok('GET', '/domains/bobs/apps/web', { token: tokens.bob })).name, 'web');
    });
  });
}
