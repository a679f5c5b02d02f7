// Hand-written SVG time-series charts: lines, an area under a single line, or areas
// stacked by series, with a y axis, clock labels, a legend and the latest value.

import { s, fmtClock } from './util.js';

const W = 420;
const H = 170;
const LEFT = 50;
const RIGHT = 10;
const BOTTOM = 20;

/** The smallest 1, 2 or 5 times a power of ten at or above `v`. */
function niceCeil(v) {
  if (!(v > 0)) {
    return 1;
  }
  const exp = 10 ** Math.floor(Math.log10(v));
  const f = v / exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * exp;
}

/**
 * Draws into `svg` (an <svg> element, cleared first).
 * opts: {
 *   title, times: [unix seconds...], series: [{name, cls, values: [number|null...]}],
 *   stacked: bool, area: bool, legend: bool, format: (v) => string (y ticks),
 *   minMax: the y axis reaches at least this,
 *   latest: string (shown top right), latestValue: number (kept in data-latest)
 * }
 */
export function drawChart(svg, opts) {
  const { times, series } = opts;
  const format = opts.format ?? String;
  const n = times.length;
  const top = opts.legend ? 42 : 28;
  const plotW = W - LEFT - RIGHT;
  const plotH = H - top - BOTTOM;

  // The y range: stacked charts stack, the others take the largest value.
  const tops = [];
  let running = new Array(n).fill(0);
  for (const serie of series) {
    if (opts.stacked) {
      running = running.map((sum, i) => sum + (serie.values[i] ?? 0));
      tops.push(running);
    } else {
      tops.push(serie.values);
    }
  }
  let peak = 0;
  for (const values of tops) {
    for (const v of values) {
      if (v !== null && v > peak) {
        peak = v;
      }
    }
  }
  const yMax = niceCeil(Math.max(peak, opts.minMax ?? 0));
  const x = (i) => LEFT + (n <= 1 ? plotW : (i * plotW) / (n - 1));
  const y = (v) => top + plotH - (Math.min(v, yMax) / yMax) * plotH;

  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${opts.title}: ${opts.latest ?? ''}`);
  svg.classList.add('chart');
  svg.dataset.peak = String(peak);
  svg.dataset.latest = String(opts.latestValue ?? 0);

  svg.append(
    s('text', { x: 4, y: 16, class: 'chart-title', text: opts.title }),
    s('text', { x: W - RIGHT, y: 16, class: 'chart-latest', 'text-anchor': 'end', text: opts.latest ?? '' }),
  );

  // Grid and y labels.
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const gy = top + plotH - f * plotH;
    svg.append(s('line', { x1: LEFT, x2: W - RIGHT, y1: gy, y2: gy, class: f === 0 ? 'axis' : 'grid' }));
    if (f === 0 || f === 0.5 || f === 1) {
      svg.append(
        s('text', { x: LEFT - 6, y: gy + 4, class: 'tick', 'text-anchor': 'end', text: format(f * yMax) }),
      );
    }
  }
  // Clock labels: the oldest bucket, the middle one, now.
  if (n > 0) {
    const mid = Math.floor((n - 1) / 2);
    // With few buckets the three labels would overlap: the clock ones only once there is
    // room between them.
    const labels = [[n - 1, 'now', 'end']];
    if (n >= 12) {
      labels.push([0, fmtClock(times[0], false), 'start'], [mid, fmtClock(times[mid], false), 'middle']);
    } else if (n >= 4) {
      labels.push([0, fmtClock(times[0], false), 'start']);
    }
    for (const [i, text, anchor] of labels) {
      svg.append(s('text', { x: x(i), y: H - 5, class: 'tick', 'text-anchor': anchor, text }));
    }
  }

  // The data.
  series.forEach((serie, k) => {
    const upper = tops[k];
    if (opts.stacked) {
      const lower = k === 0 ? new Array(n).fill(0) : tops[k - 1];
      let d = '';
      for (let i = 0; i < n; i += 1) {
        d += `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(upper[i]).toFixed(1)}`;
      }
      for (let i = n - 1; i >= 0; i -= 1) {
        d += `L${x(i).toFixed(1)},${y(lower[i]).toFixed(1)}`;
      }
      svg.append(s('path', { d: `${d}Z`, class: `area ${serie.cls}` }));
      return;
    }
    const runs = [];
    let current = [];
    upper.forEach((v, i) => {
      if (v === null || v === undefined) {
        if (current.length) {
          runs.push(current);
        }
        current = [];
      } else {
        current.push([x(i), y(v)]);
      }
    });
    if (current.length) {
      runs.push(current);
    }
    for (const run of runs) {
      const line = run.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
      if (opts.area) {
        const base = y(0).toFixed(1);
        const first = run[0][0].toFixed(1);
        const last = run[run.length - 1][0].toFixed(1);
        svg.append(s('path', { d: `${line}L${last},${base}L${first},${base}Z`, class: `area ${serie.cls}` }));
      }
      if (run.length === 1) {
        svg.append(s('circle', { cx: run[0][0], cy: run[0][1], r: 2.5, class: `dot ${serie.cls}` }));
      }
      svg.append(s('path', { d: line, class: `line ${serie.cls}` }));
    }
  });

  if (opts.legend) {
    let lx = 4;
    for (const serie of series) {
      svg.append(
        s('rect', { x: lx, y: 24, width: 10, height: 10, rx: 2, class: `swatch ${serie.cls}` }),
        s('text', { x: lx + 14, y: 33, class: 'legend', text: serie.name }),
      );
      lx += 26 + serie.name.length * 6.5;
    }
    if (!series.length) {
      svg.append(s('text', { x: 4, y: 33, class: 'legend muted', text: 'no failures' }));
    }
  }
}
