import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

/**
 * Subresource Integrity on every script and stylesheet the page loads (issue #3): the relay serves
 * the app with a CSP that allows only its own origin, and SRI pins the exact bytes as well.
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
          const integrity = `sha384-${createHash('sha384').update(readFileSync(join(outDir, file))).digest('base64')}`;
          return `<${el}${before} ${attr}="/${file}" integrity="${integrity}"${after}>`;
        },
      );
      writeFileSync(htmlPath, html);
    },
  };
}

export default defineConfig({
  root: '.',
  base: '/',
  plugins: [subresourceIntegrity()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022', modulePreload: { polyfill: false } },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
});
