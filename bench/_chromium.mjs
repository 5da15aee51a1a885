// Debian's Chromium as the benchmarks drive it, with the browser tests' flags
// (apps/web/test/_browser.ts ARGS): headless, and nothing in the background.
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
