/**
 * The import graph DESIGN.md holds us to: apps -> client -> crypto -> protocol; server -> protocol.
 * The relay never imports anything that could decrypt, and the platform-neutral core imports
 * neither `node:` modules nor Node-only packages (except in clearly named adapters).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
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
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
}
const external = (spec: string) => (spec.startsWith('.') ? undefined : spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

const allowed: Record<string, { deps: string[]; platformNeutral: boolean }> = {
  'packages/protocol': { deps: [], platformNeutral: true },
  'packages/crypto': { deps: ['@nullroom/protocol', 'ts-mls', '@noble/hashes', '@noble/curves', 'hash-wasm'], platformNeutral: true },
  'packages/client': { deps: ['@nullroom/protocol', '@nullroom/crypto', 'zod'], platformNeutral: true },
  'packages/server': { deps: ['@nullroom/protocol', 'ws', 'selfsigned'], platformNeutral: false },
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
