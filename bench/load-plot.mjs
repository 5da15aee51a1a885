// A line chart as SVG text, for bench/load.mjs's plots (docs/plots/load-*.svg): axes with round tick
// values, labels, a legend, one polyline per series; a linear or a log10 y axis. No dependencies and
// no fonts beyond the generic sans-serif, so the files render the same in a browser and on GitHub.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** About `n` round tick values (1, 2 or 5 times a power of ten apart), the first <= lo, the last >= hi. */
export function niceTicks(lo, hi, n = 6) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const ticks = [];
  const top = Math.ceil(hi / step - 1e-9) * step;
  for (let t = Math.floor(lo / step + 1e-9) * step; t <= top + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** A tick label: 1,500 / 0.25 / 12,000 / 1.5M. */
export function fmt(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1) return Number(v.toPrecision(4)).toLocaleString('en');
  return String(Number(v.toPrecision(2)));
}

/**
 * series: [{name, points: [[x, y], ...]}]; logY: a log10 y axis (values <= 0 are left out).
 * Returns the SVG document.
 */
export function lineChart({ title, xLabel, yLabel, series, width = 720, height = 380, logY = false, yMin }) {
  const m = { left: 72, right: 20, top: 56, bottom: 52 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => y);
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, x0 + 1);
  let yTicks;
  let fy;
  if (logY) {
    const lo = Math.floor(Math.log10(Math.min(...ys, 1)));
    const hi = Math.max(Math.ceil(Math.log10(Math.max(...ys, 10))), lo + 1);
    yTicks = [];
    for (let e = lo; e <= hi; e++) yTicks.push(10 ** e);
    fy = (y) => m.top + h - ((Math.log10(y) - lo) / (hi - lo)) * h;
  } else {
    const lo = yMin ?? Math.min(0, ...ys);
    yTicks = niceTicks(lo, Math.max(...ys, lo + 1e-9));
    const top = yTicks[yTicks.length - 1];
    fy = (y) => m.top + h - ((y - yTicks[0]) / (top - yTicks[0])) * h;
  }
  const xTicks = niceTicks(x0, x1, 8).filter((t) => t >= x0 && t <= x1);
  const fx = (x) => m.left + ((x - x0) / (x1 - x0)) * w;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  );
  for (const t of yTicks) {
    const y = fy(t).toFixed(1);
    out.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    const x = fx(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top + h}" y2="${m.top + h + 5}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${m.top + h + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<path d="M${m.left},${m.top}V${m.top + h}H${m.left + w}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.left + w / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(
    `<text transform="translate(16 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}${logY ? ' (log scale)' : ''}</text>`,
  );
  // The legend: one row between the title and the plot, each entry as wide as its name (about 7 px a character).
  const legendX = [];
  series.reduce((x, s) => (legendX.push(x), x + 40 + 7 * s.name.length), 0);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points
      .filter(([, y]) => Number.isFinite(y) && (!logY || y > 0))
      .map(([x, y]) => `${fx(x).toFixed(1)},${fy(y).toFixed(1)}`)
      .join(' ');
    out.push(`<polyline points="${d}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"/>`);
    const lx = m.left + legendX[i];
    const ly = m.top - 10;
    out.push(`<line x1="${lx}" x2="${lx + 20}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.5"/>`);
    out.push(`<text x="${lx + 26}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
