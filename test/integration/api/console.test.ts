// The web console over real HTTP against the real broker: sign in with an API token, what an
// admin and a developer each see (the pool's exhaustion among it), the page's security headers,
// escaping, and the refusals (bad token, a form posted from another site).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { request } from 'undici';

import { cookieValue, escape } from '../../../src/broker/console-routes.ts';
import { startBrokerHarness, type BrokerHarness, type HarnessUser } from '../../support/broker-harness.ts';

let h: BrokerHarness;
let bob: HarnessUser;

before(async () => {
  // LOCAL_MAX_NODES=0: the "cloud" has no room, so the pool shows as exhausted.
  h = await startBrokerHarness('sqlite', { listen: true, env: { AUTOSCALE_PROVIDER: 'local', AUTOSCALE_POOLS: 'small min=1 max=3', LOCAL_MAX_NODES: '0' } });
  await h.createDistrict('east');
  await h.registerNodes(1, { district: 'east', maxActiveGears: 10 });
  bob = await h.createUser('bob');
  await h.createDomain(bob, 'demo');
  await h.ok('POST', '/domains/demo/apps', { token: bob.token, body: { name: 'web', cartridge: 'nodejs', gears: 9 }, status: 201 });
  await h.store.appendEvent({ kind: 'test.note', severity: 'info', subject: 'test', message: 'a <script>alert(1)</script> & "quotes"', userId: null, now: h.now() });
});
after(() => h?.close());

async function fetchPage(path: string, options: { method?: 'GET' | 'POST'; cookie?: string; form?: Record<string, string>; origin?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.cookie !== undefined) headers.cookie = options.cookie;
  if (options.origin !== undefined) headers.origin = options.origin;
  if (options.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const response = await request(`${h.broker.url}${path}`, { method: options.method ?? 'GET', headers, body: options.form === undefined ? undefined : new URLSearchParams(options.form).toString() });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

async function signIn(token: string): Promise<string> {
  const answer = await fetchPage('/console/login', { method: 'POST', form: { token } });
  assert.equal(answer.status, 303, answer.body);
  assert.equal(answer.headers.location, '/console');
  const setCookie = String(answer.headers['set-cookie']);
  assert.match(setCookie, /^geartide_console=[^;]+; Path=\/console; HttpOnly; SameSite=Strict$/);
  return setCookie.split(';')[0]!;
}

describe('web console', () => {
  test('signed out: a sign-in form, under a policy that runs no script', async () => {
    const page = await fetchPage('/console');
    assert.equal(page.status, 200);
    assert.match(page.body, /<form method="post" action="\/console\/login"><label>API token <input type="password" name="token"/);
    assert.equal(page.headers['content-security-policy'], "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.doesNotMatch(page.body, /<script/i);
    const style = await fetchPage('/console/style.css');
    assert.equal(style.status, 200);
    assert.match(String(style.headers['content-type']), /^text\/css/);
  });

  test('an admin sees the pools (exhausted, with the reason), districts, node hosts, routers and events, escaped', async () => {
    const cookie = await signIn(h.admin.token);
    const page = await fetchPage('/console', { cookie });
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /<meta http-equiv="refresh" content="5">/);
    assert.match(page.body, /admin \(admin\)/);
    assert.match(page.body, /<h2>Pools<\/h2>.*<td>small<\/td>.*<td>9\/10 \(90%\)<\/td><td><span class="bad">EXHAUSTED<\/span><\/td>/s);
    assert.match(page.body, /LOCAL_MAX_NODES=0 node hosts are running/);
    assert.match(page.body, /<h2>Districts<\/h2>.*<td>east<\/td><td>small<\/td><td>1 \(1 active\)<\/td><td>\d+\/\d+<\/td>/s);
    const district = await h.ok('GET', '/districts/east', { token: h.admin.token });
    assert.ok(page.body.includes(`<td>${district.availableUids}/${district.maxCapacity}</td>`), 'UIDs left, as the API says');
    assert.match(page.body, /<h2>Node hosts<\/h2>.*<td>node1<\/td><td>active<\/td>/s);
    assert.match(page.body, /<h2>Routers<\/h2><p class="muted">no router has asked for the route table in the last hour<\/p>/);
    assert.match(page.body, /<h2>Recent events<\/h2>.*app web \(nodejs, small\) created in domain demo/s);
    assert.match(page.body, /a &#60;script&#62;alert\(1\)&#60;\/script&#62; &#38; &#34;quotes&#34;/);
    assert.doesNotMatch(page.body, /<script>alert/);
    assert.ok(!page.body.includes(h.admin.token), 'the token is not in the page');
  });

  test('a developer sees their apps with URLs and gears, and nothing of the platform', async () => {
    const page = await fetchPage('/console', { cookie: await signIn(bob.token) });
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /<h2>Apps<\/h2>.*<td>web-demo<\/td><td>nodejs<\/td><td>started<\/td><td><a href="http:\/\/web-demo\.localhost[^"]*">/s);
    assert.doesNotMatch(page.body, /Node hosts|Pools|Routers|Districts/);
  });

  test('refused: no token, a wrong one, a form posted from another site; signing out clears the cookie', async () => {
    const empty = await fetchPage('/console/login', { method: 'POST', form: { token: '' } });
    assert.equal(empty.status, 400);
    assert.match(empty.body, /give an API token/);
    const wrong = await fetchPage('/console/login', { method: 'POST', form: { token: 'gtu_not_a_real_token' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /that token is not accepted/);
    assert.equal(wrong.headers['set-cookie'], undefined);
    const forged = await fetchPage('/console/login', { method: 'POST', form: { token: bob.token }, origin: 'https://evil.example' });
    assert.equal(forged.status, 403);
    assert.equal(forged.headers['set-cookie'], undefined);
    const stale = await fetchPage('/console', { cookie: 'geartide_console=gtu_revoked' });
    assert.equal(stale.status, 401);
    assert.match(stale.body, /signed out: /);
    const out = await fetchPage('/console/logout', { method: 'POST', cookie: await signIn(bob.token) });
    assert.equal(out.status, 303);
    assert.match(String(out.headers['set-cookie']), /^geartide_console=; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=0$/);
  });

  test('escape and cookieValue', () => {
    assert.equal(escape(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;');
    assert.equal(cookieValue('a=1; geartide_console=gtu%2Fx; b=2', 'geartide_console'), 'gtu/x');
    assert.equal(cookieValue('geartide_console=', 'geartide_console'), undefined);
    assert.equal(cookieValue('other=1', 'geartide_console'), undefined);
    assert.equal(cookieValue(undefined, 'geartide_console'), undefined);
    assert.equal(cookieValue('geartide_console=%E0%A4%A', 'geartide_console'), undefined, 'bad escapes are no cookie');
  });
});
