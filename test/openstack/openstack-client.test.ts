// OpenStackClient against the real Keystone, Nova, Glance and Heat of ../shared/openstack, as a
// user of a project of its own. A small counting proxy (below, in this file) sits in front of the
// APIs where a test must count what the client sent or make an API misbehave: it forwards
// /to/<port>/… to 127.0.0.1:<port>/…, rewrites the catalog in Keystone's token answers so every
// endpoint goes through it too, and remembers the last token Keystone issued.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import pino from 'pino';

import { resolveCloudConfig, type CloudConfig } from '../../src/providers/openstack/cloud-config.ts';
import { NOVA_MICROVERSION, OpenStackClient, OpenStackHttpError, type OpenStackClientOptions } from '../../src/providers/openstack/openstack-client.ts';
import { freePort } from '../support/broker-process.ts';
import { createTestProject, harnessAdminEnv, openstackSkipReason, type TestProject } from '../support/openstack.ts';

const skip = openstackSkipReason();
const KEYSTONE_PORT = 5000;

interface SeenRequest {
  readonly method: string;
  readonly port: number;
  readonly path: string;
  status: number;
}

interface Fault {
  readonly method: string;
  readonly path: RegExp;
  readonly status: number;
  /** How many matching requests get the fault; then they pass. Default: all. */
  times?: number;
}

class CountingProxy {
  readonly seen: SeenRequest[] = [];
  /** The last token Keystone issued through the proxy: how a test revokes the client's token. */
  lastToken: string | null = null;
  private faults: Fault[] = [];
  /** Service type → the base URL the catalog should say instead of the proxied one. */
  private readonly redirects = new Map<string, string>();

  private constructor(
    private readonly server: Server,
    private readonly port: number,
  ) {}

  static async start(): Promise<CountingProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new CountingProxy(server, (server.address() as AddressInfo).port);
    server.on('request', (request, response) => {
      proxy.handle(request, response).catch((error: unknown) => {
        response.destroy(error instanceof Error ? error : new Error(String(error)));
      });
    });
    return proxy;
  }

  /** The proxied base URL of the API on `port`. */
  url(port: number): string {
    return `http://127.0.0.1:${this.port}/to/${port}`;
  }

  /** Keystone password or application-credential authentications seen. */
  get authentications(): number {
    return this.seen.filter((each) => each.port === KEYSTONE_PORT && each.method === 'POST' && each.path === '/v3/auth/tokens').length;
  }

  count(method: string, path: RegExp): number {
    return this.seen.filter((each) => each.method === method && path.test(each.path)).length;
  }

  inject(fault: Fault): void {
    this.faults.push(fault);
  }

  /** Tokens issued from now on name `baseUrl` as the `service` endpoint. */
  redirect(service: string, baseUrl: string): void {
    this.redirects.set(service, baseUrl);
  }

  reset(): void {
    this.seen.length = 0;
    this.faults = [];
    this.redirects.clear();
    this.lastToken = null;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const match = /^\/to\/(\d+)(\/.*)?$/.exec(request.url ?? '');
    if (!match) {
      response.writeHead(400, { connection: 'close' }).end('the proxy forwards /to/<port>/…');
      return;
    }
    const port = Number(match[1]);
    const path = match[2] ?? '/';
    const method = request.method ?? 'GET';
    const pathOnly = path.split('?')[0]!;
    const seen: SeenRequest = { method, port, path: pathOnly, status: 0 };
    this.seen.push(seen);
    const body = await readAll(request);

    const fault = this.faults.find((each) => each.method === method && each.path.test(pathOnly) && (each.times === undefined || each.times > 0));
    if (fault) {
      if (fault.times !== undefined) fault.times--;
      seen.status = fault.status;
      const text = JSON.stringify({ computeFault: { code: fault.status, message: 'Service Unavailable (injected by the test proxy)' } });
      response.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' }).end(text);
      return;
    }

    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'host' && name !== 'content-length') headers[name] = value;
    }
    headers['content-length'] = String(body.length);
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      const upstream = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, resolve);
      upstream.on('error', reject);
      upstream.end(body);
    });
    let answerBody = await readAll(answer);
    seen.status = answer.statusCode ?? 0;

    const token = answer.headers['x-subject-token'];
    if (port === KEYSTONE_PORT && method === 'POST' && pathOnly === '/v3/auth/tokens' && typeof token === 'string') {
      this.lastToken = token;
      answerBody = Buffer.from(this.rewriteCatalog(answerBody.toString('utf8')));
    }
    const answerHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'content-length') answerHeaders[name] = value;
    }
    answerHeaders['content-length'] = String(answerBody.length);
    // The client's keep-alive connections would otherwise race the proxy's idle timeout.
    answerHeaders.connection = 'close';
    response.writeHead(answer.statusCode ?? 502, answerHeaders).end(answerBody);
  }

  private rewriteCatalog(text: string): string {
    const document = JSON.parse(text) as { token?: { catalog?: { type: string; endpoints: { url: string }[] }[] } };
    for (const entry of document.token?.catalog ?? []) {
      for (const endpoint of entry.endpoints) {
        const redirect = this.redirects.get(entry.type);
        endpoint.url = redirect ?? endpoint.url.replace(/^http:\/\/(?:127\.0\.0\.1|localhost):(\d+)/, (_, port: string) => this.url(Number(port)));
      }
    }
    return JSON.stringify(document);
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** A logger whose warnings (the client's "retrying" lines) the test can count. */
function countingLog() {
  const lines: { msg: string; attempt?: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  return { log: pino({ level: 'warn' }, stream), retries: () => lines.filter((each) => /retrying/.test(each.msg)).length };
}

async function rejection(promise: Promise<unknown>): Promise<OpenStackHttpError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OpenStackHttpError, `an OpenStackHttpError, got ${String(error)}`);
    return error;
  }
  assert.fail('the request succeeded');
}

if (skip) {
  describe('OpenStackClient against the real OpenStack', () => {
    it('needs the OpenStack harness', { skip }, () => {});
  });
} else {
  describe('OpenStackClient against the real OpenStack', { timeout: 120_000 }, () => {
    let project: TestProject;
    let proxy: CountingProxy;
    let userId: string;
    const clients: OpenStackClient[] = [];
    const FAST_RETRIES = { attempts: 3, retryBaseMs: 5 } as const;

    /** A client of the test user; through the proxy unless `direct`. */
    function clientOf(cloud: Partial<CloudConfig> = {}, options: OpenStackClientOptions = FAST_RETRIES, direct = false): OpenStackClient {
      const client = new OpenStackClient({ ...project.cloud, ...(direct ? {} : { authUrl: proxy.url(KEYSTONE_PORT) }), ...cloud }, options);
      clients.push(client);
      return client;
    }

    before(async () => {
      project = await createTestProject('client');
      proxy = await CountingProxy.start();
      const users = await project.admin.request<{ users: { id: string }[] }>('identity', 'GET', '/users', { query: { name: project.projectName } });
      userId = users.body.users[0]!.id;
    });
    after(async () => {
      for (const client of clients) await client.close();
      await proxy?.close();
      await project?.destroy();
    });

    it('authenticates with a password and reaches compute, orchestration and image through the catalog', async () => {
      const client = clientOf({}, FAST_RETRIES, true);
      assert.equal(await client.projectId(), project.projectId);
      assert.equal(await client.endpoint('compute'), 'http://127.0.0.1:8774/v2.1');
      assert.equal(await client.endpoint('orchestration'), `http://127.0.0.1:8004/v1/${project.projectId}`);
      assert.equal(await client.endpoint('image'), 'http://127.0.0.1:9292');

      const flavors = await client.request<{ flavors: { id: string; name: string }[] }>('compute', 'GET', '/flavors', { microversion: NOVA_MICROVERSION });
      assert.ok(flavors.body.flavors.some((each) => each.id === 'gear-1' && each.name === 'm1.gear'), 'Nova lists the harness flavor');
      const stacks = await client.request<{ stacks: unknown[] }>('orchestration', 'GET', '/stacks');
      assert.deepEqual(stacks.body.stacks, [], 'Heat answers for the (empty) project');
      const images = await client.request<{ images: { name: string }[] }>('image', 'GET', '/v2/images', { query: { name: 'tiny' } });
      assert.deepEqual(images.body.images.map((each) => each.name), ['tiny']);
    });

    it('authenticates with an application credential, by id and by name, scoped to the project it was made in', async () => {
      const made = await project.client.request<{ application_credential: { id: string; name: string; secret: string; project_id: string } }>(
        'identity',
        'POST',
        `/users/${userId}/application_credentials`,
        { body: { application_credential: { name: 'geartide-broker', description: 'geartide openstack-client test' } } },
      );
      const credential = made.body.application_credential;
      assert.equal(credential.project_id, project.projectId);
      const authUrl = harnessAdminEnv()!.OS_AUTH_URL!;
      const byId = resolveCloudConfig(null, { OS_AUTH_URL: authUrl, OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: credential.id, OS_APPLICATION_CREDENTIAL_SECRET: credential.secret });
      const byName = resolveCloudConfig(null, {
        OS_AUTH_URL: authUrl,
        OS_APPLICATION_CREDENTIAL_NAME: credential.name,
        OS_APPLICATION_CREDENTIAL_SECRET: credential.secret,
        OS_USERNAME: project.projectName,
        OS_USER_DOMAIN_NAME: 'Default',
      });
      for (const cloud of [byId, byName]) {
        assert.equal(cloud.auth.type, 'application-credential');
        const client = new OpenStackClient(cloud, FAST_RETRIES);
        clients.push(client);
        assert.equal(await client.projectId(), project.projectId);
        const flavors = await client.request<{ flavors: unknown[] }>('compute', 'GET', '/flavors', { microversion: NOVA_MICROVERSION });
        assert.ok(flavors.body.flavors.length > 0);
      }

      const wrongSecret = 'appcred-wrong-Qm52-never-print-me';
      const wrongAuth = byId.auth.type === 'application-credential' ? { ...byId.auth, secret: wrongSecret } : assert.fail('application credential auth');
      const wrongClient = new OpenStackClient({ ...byId, auth: wrongAuth }, FAST_RETRIES);
      clients.push(wrongClient);
      const refused = await rejection(wrongClient.projectId());
      assert.equal(refused.status, 401);
      assert.ok(!`${refused.message} ${JSON.stringify(refused.context)}`.includes(wrongSecret));
      assert.ok(!`${refused.message} ${JSON.stringify(refused.context)}`.includes(credential.secret));
    });

    it('a wrong password: 401, asked once, and the error does not contain the password', async () => {
      proxy.reset();
      const password = 'wrong-pw-Hx29-never-print-me';
      const auth = project.cloud.auth.type === 'password' ? { ...project.cloud.auth, password } : assert.fail('the test user has password auth');
      const error = await rejection(clientOf({ auth }).request('compute', 'GET', '/flavors'));
      assert.equal(error.status, 401);
      assert.equal(error.code, 'cloud_http_401');
      assert.equal(error.category, 'unauthenticated');
      assert.match(error.message, /authenticating with OS_\* variables/);
      const everything = `${error.message} ${String(error)} ${JSON.stringify(error.context)} ${error.stack ?? ''} ${String(error.cause ?? '')}`;
      assert.ok(!everything.includes(password), `the error leaks the password: ${error.message}`);
      assert.equal(proxy.authentications, 1, 'a refused password is not retried');
      assert.equal(proxy.count('GET', /flavors/), 0);
    });

    it('a token revoked behind its back: the next request authenticates again, once, and succeeds', async () => {
      proxy.reset();
      const client = clientOf();
      await client.projectId();
      const revoked = proxy.lastToken!;
      assert.equal(proxy.authentications, 1);
      await project.admin.request('identity', 'DELETE', '/auth/tokens', { headers: { 'x-subject-token': revoked }, expect: [204] });

      // Nova has never seen this token, so no validation cache can hide the revocation.
      const flavors = await client.request<{ flavors: unknown[] }>('compute', 'GET', '/flavors', { microversion: NOVA_MICROVERSION });
      assert.ok(flavors.body.flavors.length > 0);
      assert.equal(proxy.authentications, 2, 'one authentication more');
      assert.deepEqual(
        proxy.seen.filter((each) => each.port === 8774).map((each) => each.status),
        [401, 200],
      );
      assert.notEqual(proxy.lastToken, revoked);

      // Keystone's own API, too.
      await project.admin.request('identity', 'DELETE', '/auth/tokens', { headers: { 'x-subject-token': proxy.lastToken! }, expect: [204] });
      const projects = await client.request<{ projects: { id: string }[] }>('identity', 'GET', '/auth/projects');
      assert.deepEqual(projects.body.projects.map((each) => each.id), [project.projectId]);
      assert.equal(proxy.authentications, 3);
    });

    it('a token still valid is reused; concurrent requests share one authentication', async () => {
      proxy.reset();
      const client = clientOf();
      for (let i = 0; i < 3; i++) await client.request('compute', 'GET', '/flavors');
      assert.equal(proxy.authentications, 1);

      proxy.reset();
      const fresh = clientOf();
      await Promise.all(Array.from({ length: 5 }, () => fresh.request('compute', 'GET', '/flavors')));
      assert.equal(proxy.authentications, 1);
      assert.equal(proxy.count('GET', /\/flavors$/), 5);
    });

    it('refreshes before expiry: with refreshBeforeMs longer than the token lives, every request authenticates', async () => {
      proxy.reset();
      const client = clientOf({}, { ...FAST_RETRIES, refreshBeforeMs: 7 * 24 * 3_600_000 });
      for (let i = 0; i < 3; i++) await client.request('compute', 'GET', '/flavors');
      assert.equal(proxy.authentications, 3);
      assert.equal(proxy.count('GET', /\/flavors$/), 3);
    });

    it('refreshes when its clock passes the token\'s expiry less refreshBeforeMs', async () => {
      proxy.reset();
      let skew = 0;
      const client = clientOf({}, { ...FAST_RETRIES, refreshBeforeMs: 60_000, now: () => Date.now() + skew });
      await client.request('compute', 'GET', '/flavors');
      await client.request('compute', 'GET', '/flavors');
      assert.equal(proxy.authentications, 1);
      skew = 7 * 24 * 3_600_000; // a week on: any Keystone token has expired by then
      await client.request('compute', 'GET', '/flavors');
      assert.equal(proxy.authentications, 2);
    });

    it('Keystone refusing connections: tried `attempts` times, then status 0 cloud_unreachable', async () => {
      const { log, retries } = countingLog();
      const port = await freePort();
      const client = clientOf({ authUrl: `http://127.0.0.1:${port}` }, { ...FAST_RETRIES, attempts: 4, log });
      const error = await rejection(client.request('compute', 'GET', '/flavors'));
      assert.equal(error.status, 0);
      assert.equal(error.code, 'cloud_unreachable');
      assert.equal(error.category, 'transient');
      assert.equal((error.cause as { code?: string }).code, 'ECONNREFUSED');
      assert.equal(retries(), 3, '4 attempts: 3 retries');
    });

    it('an endpoint refusing connections: a GET and even a POST are tried `attempts` times (the cloud never saw them)', async () => {
      proxy.reset();
      const port = await freePort();
      proxy.redirect('compute', `http://127.0.0.1:${port}/v2.1`);
      for (const method of ['GET', 'POST']) {
        const { log, retries } = countingLog();
        const client = clientOf({}, { ...FAST_RETRIES, log });
        const error = await rejection(client.request('compute', method, '/servers', method === 'POST' ? { body: { server: { name: 'never' } } } : {}));
        assert.equal(error.status, 0, method);
        assert.equal(error.code, 'cloud_unreachable', method);
        assert.equal(retries(), 2, `${method}: 3 attempts`);
      }
    });

    it('an endpoint answering 503: a POST is sent once, a GET is retried and succeeds once the 503s stop', async () => {
      proxy.reset();
      const client = clientOf();
      proxy.inject({ method: 'POST', path: /\/v2\.1\/servers$/, status: 503 });
      const error = await rejection(client.request('compute', 'POST', '/servers', { body: { server: { name: 'never', imageRef: 'tiny', flavorRef: 'gear-1', networks: 'none' } }, microversion: NOVA_MICROVERSION }));
      assert.equal(error.status, 503);
      assert.equal(error.category, 'transient');
      assert.equal(proxy.count('POST', /\/v2\.1\/servers$/), 1, 'a POST after a 503 is not sent again');

      proxy.inject({ method: 'GET', path: /\/v2\.1\/flavors$/, status: 503 });
      const failed = await rejection(client.request('compute', 'GET', '/flavors'));
      assert.equal(failed.status, 503);
      assert.equal(proxy.count('GET', /\/v2\.1\/flavors$/), 3, 'a GET is tried `attempts` times');

      proxy.reset();
      proxy.inject({ method: 'GET', path: /\/v2\.1\/flavors$/, status: 503, times: 2 });
      const recovered = await clientOf().request<{ flavors: unknown[] }>('compute', 'GET', '/flavors');
      assert.ok(recovered.body.flavors.length > 0);
      assert.deepEqual(
        proxy.seen.filter((each) => each.port === 8774).map((each) => each.status),
        [503, 503, 200],
      );
    });

    it('a region the catalog does not have: an error naming the region and the service', async () => {
      const client = clientOf({ regionName: 'Atlantis' }, FAST_RETRIES, true);
      const error = await rejection(client.request('compute', 'GET', '/flavors'));
      assert.match(error.message, /region Atlantis/);
      assert.match(error.message, /'compute'/);
      // What the catalog offers instead, so the operator can fix region_name at once.
      assert.match(error.message, /the catalog has: .*\bpublic in RegionOne\b/);
      assert.equal(error.status, 404);
    });
  });
}
