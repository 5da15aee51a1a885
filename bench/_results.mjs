// Where a benchmark writes its JSON: bench/results/<name>.json (what scripts/run-bench.mjs turns
// into docs/benchmarks.md), or <dir>/<name>.json when NULLROOM_BENCH_OUT=<dir> is set, so that
// quick runs (apps/cli/test/bench-quick.test.ts, scripts/bench-compare.mjs) leave the committed
// measurements as they were.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.NULLROOM_BENCH_OUT || new URL('./results/', import.meta.url).pathname;

/** Writes `report` as bench/results/<name>.json (or into NULLROOM_BENCH_OUT) and returns the path. */
export function writeResult(name, report) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
