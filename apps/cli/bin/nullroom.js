#!/usr/bin/env node
// The `nullroom` command. This file is committed (not built) so that `npm install` on a fresh
// clone links it: npm skips a bin whose target does not exist yet when it links, and dist/ is
// only built afterwards, by the root package's `prepare` script.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('nullroom: not built yet: run `npm run build` at the root of the repository, then try again\n');
  process.exit(1);
}
await import(entry.href);
