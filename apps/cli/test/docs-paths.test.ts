/**
 * The docs point at files that exist: every repository path written in backticks in
 * docs/ARCHITECTURE.md, PROTOCOL.md, SECURITY.md and OPERATING.md (`packages/client/src/outbox.ts`,
 * `node scripts/make-vectors.mjs --check`, `room.ts:120`), and every bare source file name
 * or path end (`roomMembership.ts`, `node/pipe.ts`), names a file or folder of the repository. A module renamed or removed
 * without its docs fails here, instead of leaving a newcomer to look for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const DOCS = ['docs/ARCHITECTURE.md', 'docs/PROTOCOL.md', 'docs/SECURITY.md', 'docs/OPERATING.md'];
const TOP = /^(?:packages|apps|docs|scripts|bench|deploy|patches)\//;
/** A source file named by its name, or by the end of its path (`node/files.ts`, `ui/ChatView.tsx`). */
const BARE = /^[\w.-]+(?:\/[\w.-]+)*\.(?:ts|tsx|mjs)$/;
/** Build outputs: not in the repository until `npm run build`, so only their parent must exist. */
const BUILT = /\/(?:dist|dist-test)(?:\/|$)/;

/** Every source file under packages/, apps/, bench/ and scripts/, as `/path/from/root` (build outputs and dependencies aside). */
function sourceFiles(dir: string, into: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    if (n === 'node_modules' || n === 'dist' || n === 'dist-test' || n.startsWith('.')) continue;
    const p = join(dir, n);
    if (statSync(p).isDirectory()) sourceFiles(p, into);
    else into.push(`/${p.slice(root.length)}`);
  }
  return into;
}
const files = ['packages', 'apps', 'bench', 'scripts', 'deploy'].flatMap((d) => sourceFiles(join(root, d)));

/** The path-like words of one backticked span, without a `:line` or `#anchor` suffix. */
function pathsIn(span: string): { path: string; bare: boolean }[] {
  const found = (path: string, bare: boolean): { path: string; bare: boolean }[] => [{ path, bare }];
  return span
    .split(/\s+/)
    .map((w) => w.replace(/[:#][\w-]*$/, '').replace(/[,;)]+$/, ''))
    .flatMap((w) => (TOP.test(w) ? found(w, false) : BARE.test(w) ? found(w, true) : []));
}

for (const doc of DOCS) {
  test(`${doc}: every repository path it names exists`, () => {
    const text = readFileSync(join(root, doc), 'utf8');
    const missing: string[] = [];
    let checked = 0;
    for (const m of text.matchAll(/`([^`\n]+)`/g)) {
      for (const { path, bare } of pathsIn(m[1]!)) {
        checked++;
        if (bare) {
          if (!files.some((f) => f.endsWith(`/${path}`))) missing.push(path);
        } else {
          const target = BUILT.test(path) ? dirname(path.replace(/\/(dist|dist-test)(\/.*)?$/, '/$1')) : path;
          if (!existsSync(join(root, target))) missing.push(path);
        }
      }
    }
    assert.ok(checked > 0, `${doc} names no path: is the pattern still right?`);
    assert.deepEqual(missing, [], `${doc} names paths that do not exist`);
  });
}
