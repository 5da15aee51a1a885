/** Byte counts on the command line (`--max-file`, `--blob-max`, ...), shared by `serve` and `chat`. */

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** A byte count: digits with an optional binary suffix (K, M, G, T; "KiB"/"KB" and a trailing "B" are accepted too). */
export function parseSize(s: string): number | undefined {
  const m = /^([0-9]{1,16})\s*([KMGT]?)(?:i?B)?$/i.exec(s.trim());
  if (m === null) return undefined;
  const n = Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
