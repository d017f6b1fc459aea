import assert from 'node:assert/strict';
import { test } from 'node:test';

import { hostName, hostPort } from '../../src/router/host-name.ts';

const cases: Record<string, { header: string | undefined; name: string; port: string | undefined }> = {
  'plain lower-case host': { header: 'hello-demo.localhost', name: 'hello-demo.localhost', port: undefined },
  'mixed case is folded': { header: 'Hello-DEMO.LocalHost', name: 'hello-demo.localhost', port: undefined },
  'port is stripped': { header: 'hello-demo.localhost:8080', name: 'hello-demo.localhost', port: '8080' },
  'trailing dot (absolute name) is dropped': { header: 'hello-demo.localhost.', name: 'hello-demo.localhost', port: undefined },
  'trailing dot before the port': { header: 'Hello-demo.localhost.:80', name: 'hello-demo.localhost', port: '80' },
  'IPv6 literal keeps its brackets': { header: '[::1]:7481', name: '[::1]', port: '7481' },
  'IPv6 literal without port': { header: '[::1]', name: '[::1]', port: undefined },
  'empty colon is no port': { header: 'a.example:', name: 'a.example', port: undefined },
  'missing header': { header: undefined, name: '', port: undefined },
  'empty header': { header: '', name: '', port: undefined },
};

for (const [name, want] of Object.entries(cases)) {
  test(`host name: ${name}`, () => {
    assert.equal(hostName(want.header), want.name);
    assert.equal(hostPort(want.header), want.port);
  });
}
