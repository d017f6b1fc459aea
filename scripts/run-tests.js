#!/usr/bin/env node
// Runs every *.test.ts under the given folders with node's test runner and tsx.
// Node 20's `node --test DIR` runs nothing, so the files are listed explicitly.
//
//   node scripts/run-tests.js test/unit test/integration
//   node scripts/run-tests.js --postgres test/integration/store   (PostgreSQL required, not skipped)
//   node scripts/run-tests.js --openstack test/openstack          (the ../shared/openstack harness required)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const env = { ...process.env };
const roots = [];
for (const arg of args) {
  if (arg === '--postgres') env.GEARTIDE_TEST_POSTGRES = 'required';
  else if (arg === '--openstack') env.GEARTIDE_TEST_OPENSTACK = 'required';
  else roots.push(arg);
}

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path).sort()) collect(join(path, entry), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

const files = roots.flatMap((root) => collect(root, []));
if (files.length === 0) {
  console.error(`no *.test.ts files under ${roots.join(', ')}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
