import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { resolveCliConfig, saveCliToken } from '../../src/cli/cli-config.ts';
import { ConfigError } from '../../src/core/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'geartide-cli-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh GEARTIDE_HOME, with config.json holding `contents` when given. */
function home(contents?: string): string {
  const dir = join(root, `home-${counter++}`);
  mkdirSync(dir);
  if (contents !== undefined) writeFileSync(join(dir, 'config.json'), contents);
  return dir;
}

describe('resolveCliConfig', () => {
  test('reads brokerUrl, routerUrl and token from $GEARTIDE_HOME/config.json', () => {
    const dir = home(JSON.stringify({ brokerUrl: 'http://127.0.0.1:8080/', routerUrl: 'http://127.0.0.1:8000', token: 'file-token' }));
    const config = resolveCliConfig({ env: { GEARTIDE_HOME: dir } });
    assert.equal(config.brokerUrl, 'http://127.0.0.1:8080', 'trailing slash dropped');
    assert.equal(config.routerUrl, 'http://127.0.0.1:8000');
    assert.equal(config.token, 'file-token');
    assert.equal(config.configFile, join(dir, 'config.json'));
  });

  test('GEARTIDE_URL and GEARTIDE_TOKEN win over the file', () => {
    const dir = home(JSON.stringify({ brokerUrl: 'http://file:1', token: 'file-token' }));
    const config = resolveCliConfig({ env: { GEARTIDE_HOME: dir, GEARTIDE_URL: 'http://env:2', GEARTIDE_TOKEN: 'env-token' } });
    assert.equal(config.brokerUrl, 'http://env:2');
    assert.equal(config.token, 'env-token');
  });

  test('empty env variables do not override the file', () => {
    const dir = home(JSON.stringify({ brokerUrl: 'http://file:1', token: 'file-token' }));
    const config = resolveCliConfig({ env: { GEARTIDE_HOME: dir, GEARTIDE_URL: '', GEARTIDE_TOKEN: '' } });
    assert.equal(config.brokerUrl, 'http://file:1');
    assert.equal(config.token, 'file-token');
  });

  test('a missing config file is normal: nothing configured', () => {
    const config = resolveCliConfig({ env: { GEARTIDE_HOME: home() } });
    assert.equal(config.brokerUrl, undefined);
    assert.equal(config.token, undefined);
  });

  test('GEARTIDE_HOME defaults to ~/.geartide', () => {
    const config = resolveCliConfig({ env: {}, homeDirectory: '/home/someone' });
    assert.equal(config.home, '/home/someone/.geartide');
    assert.equal(config.configFile, '/home/someone/.geartide/config.json');
  });

  test('bad JSON is a clear error naming the file, not a silent default', () => {
    const dir = home('{ "brokerUrl": ');
    assert.throws(
      () => resolveCliConfig({ env: { GEARTIDE_HOME: dir } }),
      (error: unknown) => error instanceof ConfigError && error.message.includes(join(dir, 'config.json')) && /not valid JSON/.test(error.message),
    );
  });

  test('bad JSON still fails even when env gives a URL: the file is broken either way', () => {
    const dir = home('nope');
    assert.throws(() => resolveCliConfig({ env: { GEARTIDE_HOME: dir, GEARTIDE_URL: 'http://x:1' } }), ConfigError);
  });

  const wrongShapes: Record<string, { contents: string; want: RegExp; field?: string }> = {
    'an array instead of an object': { contents: '[]', want: /must hold a JSON object/ },
    'a number where a string belongs': { contents: '{"token": 42}', want: /token must be a string/, field: 'token' },
    'a brokerUrl that is no URL': { contents: '{"brokerUrl": "localhost:8080"}', want: /brokerUrl must be an http/ },
    'a brokerUrl that does not parse': { contents: '{"brokerUrl": "::"}', want: /brokerUrl is not a URL/ },
  };
  for (const [name, { contents, want, field }] of Object.entries(wrongShapes)) {
    test(`config.json with ${name} is rejected`, () => {
      assert.throws(
        () => resolveCliConfig({ env: { GEARTIDE_HOME: home(contents) } }),
        (error: unknown) => error instanceof ConfigError && want.test(error.message) && (field === undefined || error.field === field),
      );
    });
  }

  test('a malformed GEARTIDE_URL names the variable', () => {
    assert.throws(
      () => resolveCliConfig({ env: { GEARTIDE_HOME: home(), GEARTIDE_URL: 'ftp://x' } }),
      (error: unknown) => error instanceof ConfigError && error.field === 'GEARTIDE_URL',
    );
  });
});

describe('saveCliToken', () => {
  test('keeps the other keys and writes the file owner-only', () => {
    const dir = home(JSON.stringify({ brokerUrl: 'http://b:1', token: 'old' }));
    const config = resolveCliConfig({ env: { GEARTIDE_HOME: dir } });
    saveCliToken(config, 'new-token');
    assert.deepEqual(JSON.parse(readFileSync(config.configFile, 'utf8')), { brokerUrl: 'http://b:1', token: 'new-token' });
    assert.equal(statSync(config.configFile).mode & 0o777, 0o600);
  });
});
