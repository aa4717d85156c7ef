// The manager's quality page: totals, alpha per dimension, annotators (table + accuracy/speed chart), consensus,
// and the leaderboard of generation models with bootstrap intervals.
import { request } from "./api.js";
import * as charts from "./charts.js";

const root = document.getElementById("quality");
const project = root.dataset.project;
const $ = (id) => document.getElementById(id);

async function getJson(url) {
  const answer = await request("GET", url);
  if (!answer.ok) throw new Error(answer.message);
  return answer.data;
}

function cell(row, value, className) {
  const td = document.createElement(row.parentElement && row.parentElement.tagName === "THEAD" ? "th" : "td");
  if (value instanceof Node) td.append(value); else td.textContent = value ?? "–";
  if (className) td.className = className;
  row.append(td);
  return td;
}

function table(node, headers, rows) {
  const head = document.createElement("thead");
  const headRow = head.insertRow();
  for (const [title, className] of headers) cell(headRow, title, className);
  const body = document.createElement("tbody");
  for (const values of rows) {
    const row = body.insertRow();
    values.forEach((value, i) => cell(row, value, headers[i][1]));
  }
  node.replaceChildren(head, body);
}

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(0)}%`);

function renderTotals(totals) {
  const labels = { pairs: "pairs", complete: "finished", gold: "gold pairs", judgments: "judgments",
    live_leases: "on lease now", skips: "skips" };
  $("totals").replaceChildren(...Object.entries(labels).map(([key, label]) => {
    const stat = document.createElement("div");
    stat.className = "stat";
    const value = document.createElement("b");
    value.textContent = totals[key];
    stat.append(value, label);
    return stat;
  }));
}

function renderAnnotators(annotators) {
  table($("annotators"), [["Annotator"], ["Judgments", "num"], ["Median s", "num"], ["Gold accuracy", "num"],
    ["Gold pairs", "num"], ["Agrees with consensus", "num"], ["Left share", "num"], ["Bias z", "num"], ["Flags"]],
  annotators.map((a) => {
    const flags = document.createElement("span");
    for (const flag of a.flags) {
      const badge = document.createElement("span");
      badge.className = "flag";
      badge.textContent = flag.replaceAll("_", " ");
      flags.append(badge);
    }
    return [a.username, a.judgments, a.median_seconds, pct(a.gold_accuracy), a.gold_pairs,
      pct(a.consensus_agreement), pct(a.left_share), a.bias_z, flags];
  }));
  charts.scatter($("annotator-chart"),
    annotators.filter((a) => a.gold_accuracy !== null && a.median_seconds !== null)
      .map((a) => ({ x: a.median_seconds, y: a.gold_accuracy, label: a.username, flagged: a.flags.length > 0 })),
    { xTitle: "median seconds per pair", yTitle: "gold accuracy", title: "Gold accuracy against speed" });
}

function renderDimensions(dimensions) {
  charts.bars($("alpha-chart"), dimensions.map((d) => ({ label: d.label, value: d.alpha })),
    { lo: -1, hi: 1, guides: [0.667, 0.8], lowBelow: 0.667, title: "Krippendorff's alpha per dimension" });
  table($("consensus"), [["Dimension"], ["α", "num"], ["A wins", "num"], ["B wins", "num"], ["Tie", "num"],
    ["Undecided", "num"], ["To adjudicate", "num"], ["Adjudicated", "num"]],
  dimensions.map((d) => [d.label, d.alpha === null ? "–" : d.alpha.toFixed(3), d.consensus.A, d.consensus.B,
    d.consensus.tie, d.consensus.undecided, d.to_adjudicate, d.adjudicated]));
  const select = $("dimension");
  if (!select.options.length) {
    for (const d of dimensions) select.append(new Option(d.label, d.key, false, d.key === "overall"));
    select.addEventListener("change", () => loadLeaderboard(select.value));
  }
}

async function loadLeaderboard(dimension) {
  const board = await getJson(`/api/v1/projects/${project}/leaderboard/?dimension=${encodeURIComponent(dimension)}`);
  charts.whiskers($("leaderboard-chart"),
    board.models.map((m) => ({ label: `${m.rank}. ${m.model}`, value: m.rating, low: m.ci_low, high: m.ci_high })),
    { title: `Leaderboard, ${board.dimension}` });
}

async function load() {
  try {
    const report = await getJson(`/api/v1/projects/${project}/quality/`);
    renderTotals(report.totals);
    renderDimensions(report.dimensions);
    renderAnnotators(report.annotators);
    await loadLeaderboard($("dimension").value);
    $("status").textContent = `Updated ${new Date().toLocaleTimeString()}.`;
  } catch (error) {
    $("status").textContent = error.message;
    $("status").classList.add("error");
  }
}

load();
