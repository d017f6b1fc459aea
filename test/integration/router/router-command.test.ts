// `geartide router` as a real child process against the route-table TEST DOUBLE (not the broker).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ROUTER_TOKEN, startBrokerRoutesDouble, type BrokerRoutesDouble } from './broker-routes-double.ts';
import { get, startGearBackend, type GearBackend } from './gear-backends.ts';
import { startRouterCommand } from './router-command-process.ts';

let broker: BrokerRoutesDouble;
let gear: GearBackend;
let home: string;

before(async () => {
  gear = await startGearBackend('gear-cli');
  broker = await startBrokerRoutesDouble([{ host: 'hello-demo.apps.test', app: 'hello', domain: 'demo', desiredState: 'started', endpoints: [gear.endpoint] }]);
  home = mkdtempSync(join(tmpdir(), 'geartide-router-cli-'));
});
after(async () => {
  await broker.stop();
  await gear.stop();
  rmSync(home, { recursive: true, force: true });
});

const runRouter = startRouterCommand;

test('router --token-file serves the broker routes, logs no token, and stops on SIGTERM', async () => {
  const tokenFile = join(home, 'router.token');
  writeFileSync(tokenFile, `${ROUTER_TOKEN}\n`, { mode: 0o600 });
  const run = runRouter(['--broker', broker.url, '--port', '0', '--cloud-domain', 'apps.test', '--token-file', tokenFile, '--log-level', 'debug'], {});
  const started = Date.now();
  let url: string | undefined;
  while (url === undefined) {
    assert.ok(Date.now() - started < 15_000, `router started: ${JSON.stringify(run.output())}`);
    url = /listening on (http:\/\/\S+)/.exec(run.output().stdout)?.[1];
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  let body = '';
  while (body !== 'gear-cli') {
    assert.ok(Date.now() - started < 15_000, 'routed');
    body = (await get(url, 'hello-demo.apps.test')).body;
  }
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0);
  const { stdout, stderr } = run.output();
  assert.ok(!stdout.includes(ROUTER_TOKEN) && !stderr.includes(ROUTER_TOKEN), 'the token is never printed');
  assert.ok(broker.requests.some((request) => request.authorized));
});

test('router without a token refuses to start, naming GEARTIDE_ROUTER_TOKEN', async () => {
  const run = runRouter(['--broker', broker.url, '--port', '0'], {});
  assert.equal(await run.exited, 2);
  assert.match(run.output().stderr, /set GEARTIDE_ROUTER_TOKEN or pass --token-file/);
});
