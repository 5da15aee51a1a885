#!/usr/bin/env node
// `npm start`: builds what changed, then runs `nullroom serve` (arguments after `npm start --` go to
// it). The TypeScript packages build with `tsc -b`, which skips what is up to date; the web app is
// rebuilt only when one of its inputs (its sources, the packages it bundles, the lock file) is
// newer than its last build, and quietly: Vite's notes (such as node:crypto "externalized for
// browser compatibility", which the SDK only uses under Node) are not errors and are not shown;
// a real build error still is. `npm run build` stays the full, verbose build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const web = join(root, 'apps', 'web');

function step(what, args, cwd = root) {
  const r = spawnSync(process.execPath, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`npm start: ${what} failed`);
    process.exit(r.status ?? 1);
  }
}

/** The newest modification time under `path` (a file or a folder; node_modules and dist-test skipped). */
function newest(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const e of readdirSync(path)) if (e !== 'node_modules' && e !== 'dist-test') t = Math.max(t, newest(join(path, e)));
  return t;
}

step('the TypeScript build (tsc -b)', [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);

const built = join(web, 'dist', 'index.html');
const inputs = [
  ...['src', 'index.html', 'vite.config.ts', 'package.json', 'tsconfig.json'].map((p) => join(web, p)),
  ...['protocol', 'crypto', 'client'].flatMap((p) => [join(root, 'packages', p, 'dist'), join(root, 'packages', p, 'package.json')]),
  join(root, 'package-lock.json'),
];
if (existsSync(built) && Math.max(...inputs.map(newest)) <= statSync(built).mtimeMs) {
  console.log('web app up to date (apps/web/dist)');
} else {
  console.log('building the web app (apps/web/dist)...');
  step('type-checking the web app', [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.', '--noEmit'], web);
  step('the web app build (vite)', [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'error'], web);
}

// The relay runs in this process (no child to pass signals on to): `nullroom serve` with our arguments.
const main = join(root, 'apps', 'cli', 'dist', 'src', 'main.js');
process.argv = [process.argv[0], main, 'serve', ...process.argv.slice(2)];
await import(pathToFileURL(main).href);
