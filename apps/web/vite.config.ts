import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const sri = (bytes: Buffer) => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;

/**
 * Subresource Integrity on every script and stylesheet the page loads (issue #3): the relay serves
 * the app with a CSP that allows only its own origin, and SRI pins the exact bytes as well.
 * Modules imported later (the password-strength dictionaries, the post-quantum suite) are pinned
 * through the import map's "integrity" section (HTML standard; Chromium 127+, Firefox 138+, Safari
 * 18+), which applies to every module the page fetches, static or dynamic. The import map is the one
 * inline script; the relay allows exactly it by its hash in the CSP (packages/server/src/http.ts).
 */
function subresourceIntegrity(): Plugin {
  let outDir = 'dist';
  return {
    name: 'nullroom-sri',
    apply: 'build',
    enforce: 'post',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    // Hash the files as written (nothing can change them after this), then pin them in index.html.
    writeBundle() {
      const htmlPath = join(outDir, 'index.html');
      const html = readFileSync(htmlPath, 'utf8').replace(
        /<(script|link)\b([^>]*?)\s(src|href)="\/([^"]+)"([^>]*)>/g,
        (tag, el: string, before: string, attr: string, file: string, after: string) => {
          if (/\bintegrity=/.test(tag)) return tag;
          return `<${el}${before} ${attr}="/${file}" integrity="${sri(readFileSync(join(outDir, file)))}"${after}>`;
        },
      );
      const integrity: Record<string, string> = {};
      for (const f of readdirSync(join(outDir, 'assets')).sort()) {
        if (f.endsWith('.js')) integrity[`/assets/${f}`] = sri(readFileSync(join(outDir, 'assets', f)));
      }
      const importMap = `<script type="importmap">${JSON.stringify({ imports: {}, integrity })}</script>`;
      // Before any module script or modulepreload (it must come first), after the charset declaration.
      writeFileSync(htmlPath, html.replace(/(<meta charset="utf-8" \/>)/, `$1\n    ${importMap}`));
    },
  };
}

export default defineConfig({
  root: '.',
  base: '/',
  plugins: [subresourceIntegrity()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    // The budget that matters is the gzip size of what the join screen needs (250 KB, bench/bundle.mjs);
    // Vite's default 500 kB warning on raw chunks printed at every install as if something were wrong.
    chunkSizeWarningLimit: 1024,
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
});
