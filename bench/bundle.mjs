#!/usr/bin/env node
// The web app's JavaScript needed before the join screen is interactive: the entry script and every
// module it preloads, as index.html names them, gzip-compressed (level 9). Issue #3 budget: 250 KB.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { writeResult } from './_results.mjs';

const dist = new URL('../apps/web/dist/', import.meta.url);
const html = readFileSync(new URL('index.html', dist), 'utf8');
const initial = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="modulepreload"[^>]*\shref)="\/([^"]+\.js)"/g)].map((m) => m[1]);
const gz = (f) => gzipSync(readFileSync(new URL(f, dist)), { level: 9 }).length;
const files = initial.map((f) => ({ file: f, bytes: readFileSync(new URL(f, dist)).length, gzip: gz(f) }));
const lazy = readdirSync(new URL('assets/', dist)).filter((f) => f.endsWith('.js') && !initial.includes(`assets/${f}`));
const report = {
  bench: 'bundle',
  date: new Date().toISOString(),
  initialJsGzipBytes: files.reduce((n, f) => n + f.gzip, 0),
  initialJsBytes: files.reduce((n, f) => n + f.bytes, 0),
  budgetGzipBytes: 250_000,
  files,
  lazyChunks: lazy.length,
  lazyJsGzipBytes: lazy.reduce((n, f) => n + gz(`assets/${f}`), 0),
};
writeResult('bundle', report);
console.log(
  `web app: ${(report.initialJsGzipBytes / 1000).toFixed(1)} KB of JavaScript (gzip) before the join screen is interactive (budget 250 KB); ${lazy.length} lazy chunks, ${(report.lazyJsGzipBytes / 1000).toFixed(1)} KB gzip, loaded only when needed (the password-strength dictionary, the post-quantum suite)`,
);
