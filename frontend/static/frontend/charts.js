// Small SVG charts: bars, a scatter and points with interval whiskers for the quality page, lines for the
// training curves of a run. No dependencies; styles in charts.css.
const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function frame(container, width, height) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  container.replaceChildren(svg);
  return svg;
}

// A linear map from [d0, d1] to [r0, r1].
const scale = (d0, d1, r0, r1) => (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0);

function ticks(lo, hi, count = 5) {
  const step = (hi - lo) / count;
  return Array.from({ length: count + 1 }, (_, i) => lo + i * step);
}

function emptyNote(svg, width, height, text) {
  svg.append(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, text));
}

// Vertical bars; items: [{label, value | null}], domain [lo, hi], guides: values drawn as dashed lines.
function bars(container, items, { lo = -1, hi = 1, guides = [], lowBelow = -Infinity, title = "" } = {}) {
  const width = 520, height = 240, left = 40, bottom = 40, top = 12;
  const svg = frame(container, width, height);
  svg.setAttribute("aria-label", title);
  const y = scale(lo, hi, height - bottom, top);
  for (const t of ticks(lo, hi, 4)) {
    svg.append(el("line", { x1: left, x2: width - 8, y1: y(t), y2: y(t), class: "grid" }));
    svg.append(el("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, t.toFixed(1)));
  }
  for (const g of guides) svg.append(el("line", { x1: left, x2: width - 8, y1: y(g), y2: y(g), class: "guide" }));
  svg.append(el("line", { x1: left, x2: width - 8, y1: y(0), y2: y(0), class: "axis" }));
  const slot = (width - left - 8) / Math.max(items.length, 1);
  items.forEach((item, i) => {
    const x = left + i * slot + slot * 0.2;
    const w = slot * 0.6;
    svg.append(el("text", { x: x + w / 2, y: height - bottom + 16, "text-anchor": "middle", class: "label" }, item.label));
    if (item.value === null || item.value === undefined) {
      svg.append(el("text", { x: x + w / 2, y: y(0) - 6, "text-anchor": "middle" }, "n/a"));
      return;
    }
    const v = Math.max(lo, Math.min(hi, item.value));
    const bar = el("rect", { x, width: w, y: Math.min(y(v), y(0)), height: Math.abs(y(v) - y(0)),
      class: item.value < lowBelow ? "bar low" : "bar" });
    bar.append(el("title", {}, `${item.label}: ${item.value.toFixed(3)}`));
    svg.append(bar, el("text", { x: x + w / 2, y: y(v) + (v >= 0 ? -5 : 14), "text-anchor": "middle", class: "label" },
      item.value.toFixed(2)));
  });
  if (!items.length) emptyNote(svg, width, height, "No data yet");
}

// Points [{x, y, label, flagged}]; axes titled; domains padded from the data unless given.
function scatter(container, points, { xTitle, yTitle, yDomain = [0, 1], title = "" } = {}) {
  const width = 520, height = 260, left = 48, bottom = 42, top = 12, right = 12;
  const svg = frame(container, width, height);
  svg.setAttribute("aria-label", title);
  if (!points.length) { emptyNote(svg, width, height, "No annotator with both gold answers and timed judgments yet"); return; }
  const xMax = Math.max(...points.map((p) => p.x)) * 1.15 || 1;
  const x = scale(0, xMax, left, width - right);
  const y = scale(yDomain[0], yDomain[1], height - bottom, top);
  for (const t of ticks(0, xMax, 5)) {
    svg.append(el("line", { x1: x(t), x2: x(t), y1: top, y2: height - bottom, class: "grid" }));
    svg.append(el("text", { x: x(t), y: height - bottom + 14, "text-anchor": "middle" }, t.toFixed(xMax < 10 ? 1 : 0)));
  }
  for (const t of ticks(yDomain[0], yDomain[1], 4)) {
    svg.append(el("line", { x1: left, x2: width - right, y1: y(t), y2: y(t), class: "grid" }));
    svg.append(el("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, t.toFixed(2)));
  }
  svg.append(el("text", { x: (left + width) / 2, y: height - 6, "text-anchor": "middle" }, xTitle));
  svg.append(el("text", { x: 12, y: (top + height - bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 12 ${(top + height - bottom) / 2})` }, yTitle));
  for (const p of points) {
    const dot = el("circle", { cx: x(p.x), cy: y(p.y), r: 5, class: p.flagged ? "dot flagged" : "dot" });
    dot.append(el("title", {}, `${p.label}: ${p.x.toFixed(1)} s, ${(p.y * 100).toFixed(0)}%`));
    svg.append(dot, el("text", { x: x(p.x) + 7, y: y(p.y) - 6, class: "label" }, p.label));
  }
}

// One row per item [{label, value, low, high}], a dot at value and a whisker from low to high.
function whiskers(container, items, { title = "" } = {}) {
  // Drawn at the container's own width: this chart spans the page, and a fixed viewBox scaled up that far
  // blew its text up to twice the page's size. The label column fits the longest name (about 7 px a letter).
  const row = 28, right = 60, top = 20;
  const left = Math.min(320, Math.max(150, 12 + 7 * Math.max(0, ...items.map((i) => i.label.length))));
  const width = Math.max(480, container.clientWidth || 720), height = top + row * Math.max(items.length, 1) + 26;
  const svg = frame(container, width, height);
  svg.setAttribute("aria-label", title);
  if (!items.length) { emptyNote(svg, width, height, "No battles between different models yet"); return; }
  const lo = Math.min(...items.map((i) => i.low)), hi = Math.max(...items.map((i) => i.high));
  const pad = (hi - lo) * 0.08 || 10;
  const x = scale(lo - pad, hi + pad, left, width - right);
  for (const t of ticks(lo - pad, hi + pad, 6)) {
    svg.append(el("line", { x1: x(t), x2: x(t), y1: top - 8, y2: height - 22, class: "grid" }));
    svg.append(el("text", { x: x(t), y: height - 8, "text-anchor": "middle" }, t.toFixed(0)));
  }
  items.forEach((item, i) => {
    const cy = top + row * i + row / 2;
    svg.append(el("text", { x: left - 10, y: cy + 4, "text-anchor": "end", class: "label" }, item.label));
    svg.append(el("line", { x1: x(item.low), x2: x(item.high), y1: cy, y2: cy, class: "whisker" }));
    for (const end of [item.low, item.high]) {
      svg.append(el("line", { x1: x(end), x2: x(end), y1: cy - 6, y2: cy + 6, class: "whisker" }));
    }
    const dot = el("circle", { cx: x(item.value), cy, r: 5, class: "dot" });
    dot.append(el("title", {}, `${item.label}: ${item.value} (${item.low} to ${item.high})`));
    svg.append(dot, el("text", { x: width - right + 8, y: cy + 4, class: "label" }, item.value.toFixed(0)));
  });
}

// One colour per series, by its place, so a dimension keeps its colour as points arrive.
const COLORS = ["#5b8cff", "#3fb67a", "#e5a54b", "#e5534b", "#b07cff", "#4bc7e5", "#e54bb0", "#9aa1ad"];

// Lines over steps; series: Map name -> [[x, y], ...], x ascending, one point at least. The domains fit the
// data, so a live chart is simply drawn again when points arrive.
function lines(container, series, { title = "" } = {}) {
  const width = 640, height = 260, left = 52, bottom = 40, top = 12, right = 12;
  const svg = frame(container, width, height);
  svg.setAttribute("aria-label", title);
  const all = [...series.values()].flat();
  if (!all.length) { emptyNote(svg, width, height, "No points yet"); return; }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x0 === x1) { x0 -= 1; x1 += 1; } // one step or a flat curve still needs a span to scale to
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const x = scale(x0, x1, left, width - right);
  const y = scale(y0, y1, height - bottom, top);
  // Enough decimals for the tick labels to differ: a loss may move by 0.001 or by 10.
  const decimals = Math.max(0, Math.min(6, 2 - Math.floor(Math.log10(y1 - y0))));
  for (const t of ticks(y0, y1, 4)) {
    svg.append(el("line", { x1: left, x2: width - right, y1: y(t), y2: y(t), class: "grid" }));
    svg.append(el("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, t.toFixed(decimals)));
  }
  for (const t of new Set(ticks(x0, x1, 4).map(Math.round))) { // steps are whole: few steps give repeated ticks
    svg.append(el("text", { x: x(t), y: height - bottom + 16, "text-anchor": "middle" }, String(t)));
  }
  let legendX = left;
  [...series].forEach(([name, points], i) => {
    const color = COLORS[i % COLORS.length];
    const at = points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(" ");
    const curve = points.length > 1 ? el("polyline", { points: at, class: "line", stroke: color })
      : el("circle", { cx: x(points[0][0]), cy: y(points[0][1]), r: 2.5, fill: color }); // one point draws no line
    curve.append(el("title", {}, name));
    const label = el("text", { x: legendX + 14, y: height - 9, style: `fill: ${color}` }, name);
    svg.append(curve, el("rect", { x: legendX, y: height - 14, width: 10, height: 3, fill: color }), label);
    legendX += 24 + Math.ceil(label.getComputedTextLength()); // measurable: frame() put the svg in the page
  });
}

export { bars, scatter, whiskers, lines };
