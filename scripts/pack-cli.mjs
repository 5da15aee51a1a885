#!/usr/bin/env node
// `npm run pack:cli` (after `npm run build`): the `nullroom` command as one npm tarball that installs
// and runs on a machine without this repository (docs/OPERATING.md "Installing without the repository").
//
// Why a staged copy rather than `npm pack -w nullroom`: in an npm workspace the @nullroom/* packages
// are symlinks hoisted to the root's node_modules, and npm 11's `pack` bundles none of them even when
// apps/cli lists them in `bundleDependencies` (its tarball would then ask the registry for
// @nullroom/*, which are not published there: at best a failed install, at worst someone else's
// package). So this script lays out the package as it will be installed, in a temporary folder:
//
//   package.json          apps/cli's, with `dependencies` = the registry packages that the CLI and
//                         the four workspace packages need (exact pins, checked to agree), plus the
//                         bundled ones, listed in `bundleDependencies`
//   bin/, dist/src/       the built CLI (what `npm pack` of apps/cli takes)
//   web/                  the built web app (apps/web/dist), found by defaultWebDir() in serve.ts
//   patches/              the patch the bundled ts-mls carries, and why (patches/README.md)
//   node_modules/@nullroom/{protocol,crypto,client,server}   each as `npm pack` of it takes it
//   node_modules/ts-mls   the PATCHED copy from this repository's node_modules (patch-package ran at
//                         postinstall): a security fix lives in that patch (RFC 9420 §12.4), so the
//                         installed command must never run the registry's ts-mls
//
// and runs `npm pack` there. Everything else, better-sqlite3 (native: built or downloaded on the
// target) included, is installed from the registry by `npm install nullroom-<version>.tgz`.
//
// Usage: node scripts/pack-cli.mjs [--out DIR]   (default DIR: dist/ at the root; prints the path)
//        node scripts/pack-cli.mjs --refuse       (apps/cli's prepack: explains, exits 1)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const WORKSPACES = ['packages/protocol', 'packages/crypto', 'packages/client', 'packages/server'];
/** The registry package bundled as this repository patched it (patches/README.md). */
const PATCHED = { name: 'ts-mls', patch: 'ts-mls+2.0.0-rc.10.patch', marker: 'RFC 9420 §12.4 requires a path' };

function fail(message) {
  process.stderr.write(`pack:cli: ${message}\n`);
  process.exit(1);
}

if (process.argv.includes('--refuse')) {
  fail(
    '`npm pack` of apps/cli alone would make a tarball that fetches @nullroom/* from the registry; run `npm run pack:cli` at the root of the repository instead (it bundles them)',
  );
}

const outIndex = process.argv.indexOf('--out');
const out = resolve(outIndex > 0 ? (process.argv[outIndex + 1] ?? fail('--out needs a folder')) : join(root, 'dist'));

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

function npm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: cleanEnv(), shell: process.platform === 'win32' });
  if (r.status !== 0) fail(`npm ${args.join(' ')} failed in ${cwd}:\n${r.stderr}`);
  return r.stdout;
}

/** The environment without the npm_* variables of an npm that runs us (its prefix, workspace, …). */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

/** `npm pack` of a workspace (its `files`, as it would publish them), unpacked into `dest`. */
function packWorkspace(dir, dest, scratch) {
  const [{ filename }] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], join(root, dir)));
  mkdirSync(dest, { recursive: true });
  const r = spawnSync('tar', ['-xzf', join(scratch, filename), '-C', dest, '--strip-components=1'], { encoding: 'utf8' });
  if (r.status !== 0) fail(`cannot unpack ${filename}: ${r.stderr}`);
}

/** Adds `deps` to `into`, refusing two different versions of one package (all are exact pins here). */
function merge(into, deps, from) {
  for (const [name, version] of Object.entries(deps ?? {})) {
    if (name.startsWith('@nullroom/')) continue;
    if (into[name] !== undefined && into[name] !== version) fail(`${from} wants ${name}@${version}, another package ${into[name]}`);
    into[name] = version;
  }
}

// What must be built first.
for (const f of ['apps/cli/dist/src/main.js', 'apps/web/dist/index.html', ...WORKSPACES.map((w) => `${w}/dist/src/index.js`)])
  if (!existsSync(join(root, f))) fail(`${f} is missing: run \`npm run build\` first`);
const patched = join(root, 'node_modules', PATCHED.name);
const clientState = readFileSync(join(patched, 'dist', 'src', 'clientState.js'), 'utf8');
if (!clientState.includes(PATCHED.marker))
  fail(`node_modules/${PATCHED.name} is not patched (patches/${PATCHED.patch}): run \`npm ci\` (its postinstall applies the patch)`);

const scratch = mkdtempSync(join(tmpdir(), 'nullroom-pack-'));
try {
  const pkg = join(scratch, 'package');
  packWorkspace('apps/cli', pkg, scratch);
  cpSync(join(root, 'apps/web/dist'), join(pkg, 'web'), { recursive: true });
  mkdirSync(join(pkg, 'patches'));
  for (const f of ['README.md', PATCHED.patch]) cpSync(join(root, 'patches', f), join(pkg, 'patches', f));

  const cli = readJson(join(root, 'apps/cli/package.json'));
  const deps = {};
  merge(deps, cli.dependencies, cli.name);
  const bundled = {};
  for (const w of WORKSPACES) {
    const m = readJson(join(root, w, 'package.json'));
    packWorkspace(w, join(pkg, 'node_modules', m.name), scratch);
    merge(deps, m.dependencies, m.name);
    bundled[m.name] = m.version;
  }
  // The patched ts-mls: its own dependencies and required peers must be among the pins above (the
  // crypto package pins them to the same versions: DESIGN.md), since they come from the registry.
  const mls = readJson(join(patched, 'package.json'));
  if (deps[PATCHED.name] !== mls.version) fail(`the packages pin ${PATCHED.name}@${deps[PATCHED.name]}, node_modules has ${mls.version}`);
  const optional = mls.peerDependenciesMeta ?? {};
  for (const [name, version] of Object.entries({ ...mls.dependencies, ...mls.peerDependencies })) {
    if (optional[name]?.optional && deps[name] === undefined) continue;
    if (deps[name] !== version) fail(`${PATCHED.name} needs ${name}@${version}; the packages pin ${deps[name] ?? 'nothing'}`);
  }
  delete deps[PATCHED.name];
  bundled[PATCHED.name] = mls.version;
  cpSync(patched, join(pkg, 'node_modules', PATCHED.name), { recursive: true });

  const sorted = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  const manifest = {
    name: cli.name,
    version: cli.version,
    description: cli.description,
    license: cli.license,
    type: cli.type,
    engines: cli.engines,
    bin: cli.bin,
    exports: cli.exports,
    files: [...cli.files, 'web', 'patches'],
    dependencies: sorted({ ...deps, ...bundled }),
    bundleDependencies: Object.keys(bundled).sort(),
  };
  writeFileSync(join(pkg, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  mkdirSync(out, { recursive: true });
  const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', out], pkg));
  const missing = manifest.bundleDependencies.filter((b) => !packed.bundled.includes(b));
  if (missing.length > 0) fail(`npm pack left out bundled ${missing.join(', ')}`);
  const tarball = join(out, packed.filename);
  process.stdout.write(
    `${tarball}\n` +
      `pack:cli: ${packed.entryCount} files, ${(packed.size / 1024 / 1024).toFixed(1)} MiB packed (${(packed.unpackedSize / 1024 / 1024).toFixed(1)} MiB unpacked); bundled ${packed.bundled.join(', ')}\n`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
