/**
 * The import graph DESIGN.md holds us to: apps -> client -> crypto -> protocol; server -> protocol;
 * the web app and the terminal client over the SDK only, and the terminal client's chat never loading the relay.
 * The relay never imports anything that could decrypt, and the platform-neutral core imports
 * neither `node:` modules nor Node-only packages (except in clearly named adapters).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.tsx?$/.test(n) ? [p] : [];
  });
}
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1] ?? m[2]!,
  );
}
const external = (spec: string) =>
  spec.startsWith('.') ? undefined : spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];

const allowed: Record<string, { deps: string[]; platformNeutral: boolean }> = {
  'packages/protocol': { deps: [], platformNeutral: true },
  'packages/crypto': {
    // @serenity-kit/opaque: OPAQUE's client side (opaque-ke in WebAssembly, security-reviewed by 7ASecurity).
    deps: [
      '@nullroom/protocol',
      'ts-mls',
      '@noble/hashes',
      '@noble/curves',
      '@noble/ciphers',
      'hash-wasm',
      '@hpke/common',
      '@hpke/core',
      '@serenity-kit/opaque',
    ],
    platformNeutral: true,
  },
  'packages/client': { deps: ['@nullroom/protocol', '@nullroom/crypto', 'zod'], platformNeutral: true },
  // Accounts: OPAQUE's server side, username normalisation (ENSIP-15), PostgreSQL, request validation;
  // operations: structured logs (pino) and Prometheus metrics (prom-client).
  'packages/server': {
    deps: [
      '@nullroom/protocol',
      'ws',
      'selfsigned',
      'better-sqlite3',
      '@serenity-kit/opaque',
      '@adraffy/ens-normalize',
      'pg',
      'zod',
      'ioredis',
      'pino',
      'prom-client',
    ],
    platformNeutral: false,
  },
};

test('each package imports only what the architecture allows; the relay cannot import crypto', () => {
  for (const [pkg, rule] of Object.entries(allowed)) {
    for (const file of sources(join(root, pkg, 'src'))) {
      const adapter = file.includes(`${join(pkg, 'src', 'node')}/`);
      for (const spec of imports(file)) {
        const ext = external(spec);
        if (ext === undefined) continue;
        if (ext.startsWith('node:')) {
          assert.ok(!rule.platformNeutral || adapter, `${file.slice(root.length)} imports ${spec} but must run in browsers too`);
          continue;
        }
        if (adapter && ext === 'ws') continue;
        assert.ok(rule.deps.includes(ext), `${file.slice(root.length)} imports ${ext}, which ${pkg} may not depend on`);
      }
    }
  }
});

/** Imports that load when the file loads (not `import()`), relative ones resolved to their source file. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? m[2]!);
}
const resolveLocal = (from: string, spec: string) => join(dirname(from), spec.replace(/\.js$/, '.ts'));
/** Every source file that loads with `entry`, and every package any of them imports (full specifiers). */
function loadedWith(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (f: string) => {
    if (files.has(f)) return;
    files.add(f);
    for (const spec of staticImports(f)) {
      if (spec.startsWith('.')) visit(resolveLocal(f, spec));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

// The apps sit on the SDK: the web app imports @nullroom/client (its browser half, never /node) and
// its UI libraries and emoji data (emojibase); the terminal client imports @nullroom/client and its command-line libraries, and
// the relay only in serve.ts, the pure-JS image codecs that make its previews (thumbnail.ts), and uqr
// for the safety number's QR code (the web app's same library, devices.ts).
// Neither app reaches past the SDK into crypto or protocol.
const appDeps: Record<string, { deps: string[]; node: boolean }> = {
  'apps/web/src': {
    deps: ['@nullroom/client', 'preact', 'i18next', 'uqr', '@zxcvbn-ts/core', '@zxcvbn-ts/language-common', 'emojibase', 'emojibase-data'],
    node: false,
  },
  // zod checks `serve --config` files (serveConfig.ts, loaded only with one).
  'apps/cli/src': { deps: ['@nullroom/client', 'commander', 'read', 'jpeg-js', 'pngjs', 'exifr', 'uqr', 'zod'], node: true },
};

test('the apps import only the SDK (the web app never its Node half), and the CLI imports the relay only in serve.ts', () => {
  for (const [dir, rule] of Object.entries(appDeps)) {
    for (const file of sources(join(root, dir))) {
      const name = file.slice(root.length);
      for (const spec of imports(file)) {
        const ext = external(spec);
        if (ext === undefined) continue;
        if (ext.startsWith('node:')) {
          assert.ok(rule.node, `${name} imports ${spec} but runs in browsers`);
          continue;
        }
        if (name === 'apps/cli/src/serve.ts' && ext === '@nullroom/server') continue;
        assert.ok(rule.deps.includes(ext), `${name} imports ${ext}, which ${dir} may not depend on`);
        if (!rule.node) assert.ok(spec !== '@nullroom/client/node', `${name} imports the SDK's Node half`);
      }
    }
  }
});

test('`nullroom chat` never loads the relay, and `nullroom serve` never loads the client', () => {
  const cli = join(root, 'apps/cli/src');
  const serve = join(cli, 'serve.ts');
  const chat = loadedWith(join(cli, 'chat.ts'));
  assert.ok(!chat.files.has(serve), 'chat.ts loads serve.ts');
  assert.ok(![...chat.packages].some((p) => p.startsWith('@nullroom/server')), 'chat.ts loads @nullroom/server');
  const served = loadedWith(serve);
  assert.ok(![...served.packages].some((p) => p.startsWith('@nullroom/client')), 'serve.ts loads the client SDK');
  // main.ts picks the command and loads its module with import(): by itself it loads neither.
  const main = loadedWith(join(cli, 'main.ts'));
  assert.ok(!main.files.has(serve) && !main.files.has(join(cli, 'chat.ts')), 'main.ts loads a command statically');
  assert.ok(![...main.packages].some((p) => p.startsWith('@nullroom/')), `main.ts loads ${[...main.packages].join(', ')}`);
  assert.ok(
    imports(join(cli, 'main.ts')).includes('./serve.js') && imports(join(cli, 'main.ts')).includes('./chat.js'),
    'main.ts loads the commands with import()',
  );
});
