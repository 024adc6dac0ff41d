/**
 * Inline SVG charts, generated as text: line charts over steps and horizontal stacked bars.
 * No scripts, no fonts, no network: the page renders the same offline and in print.
 */
import { escapeHtml as esc } from './escape.js';

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Start of the x axis (default: the smallest x). */
  xMin?: number;
  /** Fixed y range; otherwise from the data, padded. */
  yMin?: number;
  yMax?: number;
  /** Ticks as percentages (values in [0, 1]). */
  percent?: boolean;
  width?: number;
  height?: number;
  /** Extra class on the <svg> (tests and styling). */
  id?: string;
}

/** Round tick positions covering [lo, hi]: steps of 1, 2 or 5 x 10^k. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function tickText(v: number, percent: boolean, step: number): string {
  if (percent) return `${Number((v * 100).toPrecision(6))}%`;
  if (Math.abs(v) >= 10000) return `${Number((v / 1000).toPrecision(6))}k`;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(decimals, 6));
}

const fmt = (v: number) => Number(v.toFixed(2)).toString();

/** Splits a series into runs of finite points (NaN makes a gap). */
function segments(points: [number, number][]): [number, number][][] {
  const out: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (const p of points) {
    if (Number.isFinite(p[0]) && Number.isFinite(p[1])) cur.push(p);
    else if (cur.length) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 300;
  const series = o.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const finite = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  // Legend rows: items flow left to right, about 6.5 px per character.
  const legendItems = series.map((s) => ({ s, w: 26 + s.name.length * 6.5 + 14 }));
  const legendRows: (typeof legendItems)[] = [[]];
  let rowWidth = 0;
  for (const item of legendItems) {
    if (rowWidth + item.w > W - 60 && legendRows.at(-1)!.length) {
      legendRows.push([]);
      rowWidth = 0;
    }
    legendRows.at(-1)!.push(item);
    rowWidth += item.w;
  }
  const legendHeight = series.length ? legendRows.length * 16 + 4 : 0;
  const m = { left: 58, right: 16, top: 30, bottom: 42 + legendHeight };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const head =
    `<svg class="chart${o.id ? ` ${esc(o.id)}` : ''}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">` +
    `<title>${esc(o.title)}</title>` +
    `<text class="chart-title" x="${m.left}" y="18">${esc(o.title)}</text>`;
  if (!finite.length) {
    return (
      head +
      `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="plot"/>` +
      `<text class="empty" x="${m.left + pw / 2}" y="${m.top + ph / 2}" text-anchor="middle">no data</text></svg>`
    );
  }
  let x0 = Math.min(o.xMin ?? Infinity, ...finite.map((p) => p[0]));
  let x1 = Math.max(...finite.map((p) => p[0]));
  if (x1 === x0) {
    x0 = Math.max(0, x0 - 1);
    x1 = x1 + 1;
  }
  let y0 = o.yMin ?? Math.min(...finite.map((p) => p[1]));
  let y1 = o.yMax ?? Math.max(...finite.map((p) => p[1]));
  if (o.yMin === undefined || o.yMax === undefined) {
    const pad = (y1 - y0) * 0.08 || Math.abs(y1) * 0.05 || 0.05;
    if (o.yMin === undefined) y0 -= pad;
    if (o.yMax === undefined) y1 += pad;
  }
  const yTicks = niceTicks(y0, y1).filter((t) => t >= y0 - 1e-12 && t <= y1 + 1e-12);
  const xTicks = niceTicks(x0, x1, 6).filter((t) => t >= x0 - 1e-12 && t <= x1 + 1e-12);
  const yStep = yTicks.length > 1 ? yTicks[1]! - yTicks[0]! : Math.abs(y1 - y0) || 1;
  const xStep = xTicks.length > 1 ? xTicks[1]! - xTicks[0]! : 1;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0)) * ph;

  const parts: string[] = [head];
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="plot"/>`);
  for (const t of yTicks) {
    const y = fmt(sy(t));
    parts.push(`<line class="grid" x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(tickText(t, !!o.percent, yStep))}</text>`);
  }
  for (const t of xTicks) {
    const x = fmt(sx(t));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + ph}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${m.top + ph + 14}" text-anchor="middle">${esc(tickText(t, false, xStep))}</text>`);
  }
  parts.push(`<text class="axis-label" x="${m.left + pw / 2}" y="${m.top + ph + 32}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text class="axis-label" transform="translate(14 ${fmt(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  parts.push(`<g clip-path="none">`);
  for (const s of series) {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const name = esc(s.name);
    for (const seg of segments(s.points)) {
      if (seg.length > 1) {
        const d = seg.map(([x, y], i) => `${i ? 'L' : 'M'}${fmt(sx(x))} ${fmt(sy(y))}`).join('');
        parts.push(`<path class="line" d="${d}" stroke="${s.color}"${dash}><title>${name}</title></path>`);
      }
    }
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length <= 30)
      for (const [x, y] of pts)
        parts.push(`<circle class="dot" cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="3" fill="${s.color}"><title>${name}: step ${x}, ${esc(String(Number(y.toPrecision(5))))}</title></circle>`);
  }
  parts.push('</g>');
  let ly = m.top + ph + 48;
  for (const row of legendRows) {
    let lx = m.left;
    for (const { s, w } of row) {
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      parts.push(`<line x1="${fmt(lx)}" x2="${fmt(lx + 20)}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2.5"${dash}/>`);
      parts.push(`<text class="legend" x="${fmt(lx + 26)}" y="${ly}">${esc(s.name)}</text>`);
      lx += w;
    }
    ly += 16;
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface BarSegment {
  name: string;
  value: number;
  color: string;
}

/** Horizontal stacked bars, one per row (e.g. the step-time breakdown of each model). */
export function stackedBars(o: { title: string; unit: string; rows: { label: string; segments: BarSegment[] }[]; width?: number; id?: string }): string {
  const W = o.width ?? 760;
  const labelWidth = Math.min(200, 14 + Math.max(0, ...o.rows.map((r) => r.label.length)) * 7);
  const barH = 22;
  const gap = 10;
  const legend = [...new Map(o.rows.flatMap((r) => r.segments).map((s) => [s.name, s.color])).entries()];
  const m = { left: labelWidth, right: 70, top: 30 };
  const pw = W - m.left - m.right;
  const H = m.top + o.rows.length * (barH + gap) + 34 + 18;
  const max = Math.max(1e-12, ...o.rows.map((r) => r.segments.reduce((s, x) => s + Math.max(0, x.value), 0)));
  const parts = [
    `<svg class="chart${o.id ? ` ${esc(o.id)}` : ''}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
    `<title>${esc(o.title)}</title>`,
    `<text class="chart-title" x="8" y="18">${esc(o.title)}</text>`,
  ];
  o.rows.forEach((r, i) => {
    const y = m.top + i * (barH + gap);
    parts.push(`<text class="tick" x="${m.left - 8}" y="${y + barH / 2}" text-anchor="end" dominant-baseline="middle">${esc(r.label)}</text>`);
    let x = m.left;
    let sum = 0;
    for (const s of r.segments) {
      const v = Math.max(0, s.value);
      const w = (v / max) * pw;
      sum += v;
      if (w > 0)
        parts.push(
          `<rect x="${fmt(x)}" y="${y}" width="${fmt(w)}" height="${barH}" fill="${s.color}"><title>${esc(r.label)}: ${esc(s.name)} ${esc(Number(v.toPrecision(3)).toString())} ${esc(o.unit)}</title></rect>`,
        );
      x += w;
    }
    parts.push(`<text class="tick" x="${fmt(x + 6)}" y="${y + barH / 2}" dominant-baseline="middle">${esc(Number(sum.toPrecision(3)).toString())} ${esc(o.unit)}</text>`);
  });
  let lx = m.left;
  const ly = m.top + o.rows.length * (barH + gap) + 16;
  for (const [name, color] of legend) {
    parts.push(`<rect x="${fmt(lx)}" y="${ly - 9}" width="12" height="12" fill="${color}"/>`);
    parts.push(`<text class="legend" x="${fmt(lx + 16)}" y="${ly + 1}">${esc(name)}</text>`);
    lx += 30 + name.length * 6.5;
  }
  parts.push('</svg>');
  return parts.join('');
}
