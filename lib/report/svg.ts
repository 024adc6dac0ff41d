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
  /** A thin, faint line (e.g. one seed beside its group's mean): no dots. */
  thin?: boolean;
  /** false: no legend entry (e.g. the seeds of a group whose mean has one). */
  legend?: boolean;
  /** Points ringed on the line (e.g. the best validation step). */
  marks?: [number, number][];
}

/** A legend entry that is not a series: a ring (like `marks`) or a thin line. */
export interface LegendNote {
  name: string;
  kind: 'mark' | 'thin';
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
  /** Legend entries after the series'. */
  notes?: LegendNote[];
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
  const H0 = o.height ?? 300;
  const series = o.series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const finite = series.flatMap((s) => [...s.points, ...(s.marks ?? [])].filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  // Legend rows: items flow left to right, about 6.5 px per character.
  type Item = { name: string; color: string; dashed?: boolean; kind: 'line' | 'mark' | 'thin' };
  const items: Item[] = [
    ...series.filter((s) => s.legend !== false).map((s): Item => ({ name: s.name, color: s.color, dashed: s.dashed, kind: s.thin ? 'thin' : 'line' })),
    ...(o.notes ?? []).map((n): Item => ({ name: n.name, color: '#5b6470', kind: n.kind })),
  ];
  const legendItems = items.map((s) => ({ s, w: 26 + s.name.length * 6.5 + 14 }));
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
  const legendHeight = items.length ? legendRows.length * 16 + 4 : 0;
  // A long legend makes the chart taller rather than the plot smaller.
  const H = Math.max(H0, 30 + 160 + 42 + legendHeight);
  const m = { left: 58, right: 16, top: 30, bottom: 42 + legendHeight };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const head =
    `<svg class="chart line-chart${o.id ? ` ${esc(o.id)}` : ''}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">` +
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
  const valueText = (y: number) => esc(String(Number(y.toPrecision(5))));
  parts.push('<g>');
  // Thin lines first, so that the thick ones (means) are drawn over them.
  const ordered = [...series.filter((s) => s.thin), ...series.filter((s) => !s.thin)];
  for (const s of ordered) {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const name = esc(s.name);
    for (const seg of segments(s.points)) {
      if (seg.length > 1) {
        const d = seg.map(([x, y], i) => `${i ? 'L' : 'M'}${fmt(sx(x))} ${fmt(sy(y))}`).join('');
        parts.push(`<path class="${s.thin ? 'line thin' : 'line'}" d="${d}" stroke="${s.color}"${dash}><title>${name}</title></path>`);
      }
    }
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (!s.thin && (pts.length <= 30 || pts.length === 1))
      for (const [x, y] of pts)
        parts.push(`<circle class="dot" cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="3" fill="${s.color}"><title>${name}: step ${x}, ${valueText(y)}</title></circle>`);
  }
  for (const s of series)
    for (const [x, y] of (s.marks ?? []).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)))
      parts.push(
        `<circle class="mark" cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="5" stroke="${s.color}"><title>${esc(s.name)}: best at step ${x}, ${valueText(y)}</title></circle>`,
      );
  parts.push('</g>');
  let ly = m.top + ph + 48;
  for (const row of legendRows) {
    let lx = m.left;
    for (const { s, w } of row) {
      if (s.kind === 'mark') parts.push(`<circle class="mark" cx="${fmt(lx + 10)}" cy="${ly - 4}" r="5" stroke="${s.color}"/>`);
      else {
        const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
        const width = s.kind === 'thin' ? '1.2' : '2.5';
        parts.push(`<line x1="${fmt(lx)}" x2="${fmt(lx + 20)}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="${width}"${dash}/>`);
      }
      parts.push(`<text class="legend" x="${fmt(lx + 26)}" y="${ly}">${esc(s.name)}</text>`);
      lx += w;
    }
    ly += 16;
  }
  parts.push('</svg>');
  return parts.join('');
}

/** One row of a strip chart: the values of one model's runs (e.g. its seeds). */
export interface StripRow {
  label: string;
  color: string;
  values: { name: string; value: number }[];
}

/**
 * A strip chart: one row per model, a dot per run, and the mean (tick) ± one standard
 * deviation (bar) of its runs. For final metrics over seeds.
 */
export function stripChart(o: { title: string; xLabel: string; rows: StripRow[]; width?: number; id?: string }): string {
  const W = o.width ?? 560;
  const rowH = 22;
  const labelWidth = Math.min(200, 16 + Math.max(0, ...o.rows.map((r) => r.label.length)) * 6.5);
  const m = { left: labelWidth, right: 20, top: 30, bottom: 40 };
  const H = m.top + Math.max(1, o.rows.length) * rowH + m.bottom;
  const pw = W - m.left - m.right;
  const parts = [
    `<svg class="chart strip-chart${o.id ? ` ${esc(o.id)}` : ''}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
    `<title>${esc(o.title)}</title>`,
    `<text class="chart-title" x="8" y="18">${esc(o.title)}</text>`,
  ];
  const all = o.rows.flatMap((r) => r.values.map((v) => v.value)).filter(Number.isFinite);
  if (!all.length) {
    parts.push(`<text class="empty" x="${m.left + pw / 2}" y="${m.top + rowH / 2}" text-anchor="middle">no data</text></svg>`);
    return parts.join('');
  }
  let x0 = Math.min(...all);
  let x1 = Math.max(...all);
  const pad = (x1 - x0) * 0.08 || Math.abs(x1) * 0.01 || 0.01;
  x0 -= pad;
  x1 += pad;
  const ticks = niceTicks(x0, x1, 6).filter((t) => t >= x0 - 1e-12 && t <= x1 + 1e-12);
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const bottom = m.top + o.rows.length * rowH;
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${bottom - m.top}" class="plot"/>`);
  for (const t of ticks) {
    const x = fmt(sx(t));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${m.top}" y2="${bottom}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${bottom + 14}" text-anchor="middle">${esc(tickText(t, false, step))}</text>`);
  }
  parts.push(`<text class="axis-label" x="${m.left + pw / 2}" y="${bottom + 32}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  const show = (v: number) => esc(v.toFixed(4));
  o.rows.forEach((r, i) => {
    const y = m.top + i * rowH + rowH / 2;
    parts.push(`<text class="tick" x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(r.label)}</text>`);
    const v = r.values.filter((x) => Number.isFinite(x.value));
    if (!v.length) return;
    const mean = v.reduce((a, b) => a + b.value, 0) / v.length;
    const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b.value - mean) ** 2, 0) / (v.length - 1)) : 0;
    const label = esc(r.label);
    const summary = v.length > 1 ? `${label}: mean ${show(mean)} ± ${show(std)} over ${v.length} runs` : `${label}: ${show(mean)}`;
    if (std > 0)
      parts.push(`<path class="line spread" d="M${fmt(sx(mean - std))} ${y}L${fmt(sx(mean + std))} ${y}" stroke="${r.color}"><title>${summary}</title></path>`);
    parts.push(`<path class="line mean" d="M${fmt(sx(mean))} ${y - 7}L${fmt(sx(mean))} ${y + 7}" stroke="${r.color}"><title>${summary}</title></path>`);
    for (const x of v)
      parts.push(`<circle class="run" cx="${fmt(sx(x.value))}" cy="${y}" r="4" fill="${r.color}"><title>${esc(x.name)}: ${show(x.value)}</title></circle>`);
  });
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
    `<svg class="chart bar-chart${o.id ? ` ${esc(o.id)}` : ''}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
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
