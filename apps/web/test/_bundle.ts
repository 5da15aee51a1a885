/**
 * Bundles an ES module source (a test page's entry, importing the compiled SDK and a contract from
 * packages/client/dist) into one script with Vite, as the web app is bundled, for a Chromium page.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Rolldown } from 'vite';

/** The repository's root (entries import the compiled packages by absolute path under it). */
export const root = fileURLToPath(new URL('../../../', import.meta.url));

/** A JS string literal of the absolute path of `rel` under the root, for an entry's import. */
export const under = (rel: string) => JSON.stringify(join(root, rel));

export async function bundle(source: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'nullroom-contract-'));
  try {
    const entry = join(dir, 'entry.js');
    writeFileSync(entry, source);
    const out = (await build({
      configFile: false,
      logLevel: 'silent',
      root,
      build: {
        write: false,
        minify: false,
        target: 'es2022',
        lib: { entry, formats: ['es'], fileName: 'contract' },
        rollupOptions: { output: { inlineDynamicImports: true } },
      },
    })) as Rolldown.RolldownOutput | Rolldown.RolldownOutput[];
    const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => o.output);
    const chunks = outputs.filter((o): o is Rolldown.OutputChunk => o.type === 'chunk');
    assert.equal(chunks.length, 1, 'one bundle');
    return chunks[0]!.code;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
