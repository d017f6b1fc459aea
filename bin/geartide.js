#!/usr/bin/env node
// The `geartide` command. The sources are TypeScript run through tsx's loader, so a fresh clone
// needs no build step: `npm install` then `npx geartide …`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
