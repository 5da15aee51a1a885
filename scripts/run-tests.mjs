#!/usr/bin/env node
// Runs every compiled test file (`dist/test/**/*.test.js` in each workspace; the web app's in
// `apps/web/dist-test/`, since Vite empties `apps/web/dist` on each build) with node's own test
// runner, whose summary ends the output. Optional arguments filter the files by substring.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { workspaces } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const filters = process.argv.slice(2);

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}
const files = workspaces
  .flatMap((w) => [...walk(join(root, w, 'dist', 'test')), ...walk(join(root, w, 'dist-test'))])
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files found; run `npm run build` first');
  process.exit(1);
}
// --test-force-exit: a file whose failed test left a handle open (a relay, a socket) ends once its
// tests have, instead of hanging the run with no summary.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-force-exit', ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
