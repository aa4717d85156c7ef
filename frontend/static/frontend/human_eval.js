// Run pages: human evaluation tables follow the judgments as they arrive, and a round being sent says when it is sent.
import { poll, request } from "./api.js";

const HUMAN_EVAL_POLL_MS = 5000;
const SEND_POLL_MS = 1000;

async function getJson(url) {
  const answer = await request("GET", url);
  if (!answer.ok) throw new Error(`${answer.status} ${answer.statusText}`);
  return answer.data;
}

const rate = (value) => (value === null || value === undefined ? "—" : value.toFixed(3));

// The interval as a band on a 0..1 axis, the win rate as a tick in it; nothing without judgments.
function drawInterval(bar) {
  const { low, high, rate: at } = bar.dataset;
  bar.hidden = low === undefined || low === "";
  if (bar.hidden) return;
  bar.querySelector("span").style.left = `${100 * low}%`;
  bar.querySelector("span").style.width = `${100 * (high - low)}%`;
  bar.querySelector("i").style.left = `${100 * at}%`;
}

function showHumanEval(section, result) {
  section.querySelector("[data-field=judged]").textContent = `${result.judged_pairs} of ${result.pairs} pairs judged`;
  for (const d of result.dimensions) {
    const row = section.querySelector(`tr[data-dimension="${d.key}"]`);
    if (!row) continue;
    row.querySelector("[data-field=win_rate]").textContent = rate(d.win_rate);
    row.querySelector("[data-field=ci95]").textContent = d.ci95 ? `${rate(d.ci95[0])} – ${rate(d.ci95[1])}` : "—";
    row.querySelector("[data-field=counts]").textContent = `${d.wins} / ${d.ties} / ${d.losses}`;
    row.querySelector("[data-field=reward]").textContent = rate(d.reward_win_rate);
    const bar = row.querySelector("[data-field=bar]");
    Object.assign(bar.dataset, d.ci95 ? { low: d.ci95[0], high: d.ci95[1], rate: d.win_rate } : { low: "" });
    drawInterval(bar);
  }
  const pairs = section.querySelector("[data-field=pairs]");
  if (result.pair_ids.length && !pairs.querySelector("a")) {
    pairs.replaceChildren("Pairs:");
    for (const id of result.pair_ids) {
      for (const side of ["a", "b"]) {
        const link = document.createElement("a");
        link.href = `/api/v1/pairs/${id}/media/${side}`;
        link.textContent = side === "a" ? ` #${id} A` : "B";
        pairs.append(link, side === "a" ? "/" : "");
      }
    }
  }
}

function followHumanEval(section) {
  // A failed answer keeps the last figures; the next poll tries again.
  poll(async () => {
    showHumanEval(section, await getJson(section.dataset.humanEval));
    return HUMAN_EVAL_POLL_MS;
  }, { first: HUMAN_EVAL_POLL_MS, retry: HUMAN_EVAL_POLL_MS });
}

// "sending 8 videos…" until the job says sent or failed, then its message (the human-eval table fills in by itself).
function followSend(line) {
  poll(async () => {
    const generation = await getJson(line.dataset.generation);
    line.textContent = `${generation.round_status}: ${generation.round_message}`;
    line.dataset.status = generation.round_status;
    return generation.round_status === "sending" ? SEND_POLL_MS : null;
  }, { retry: SEND_POLL_MS * 5 });
}

document.querySelectorAll(".interval").forEach(drawInterval);
document.querySelectorAll("[data-human-eval]").forEach(followHumanEval);
document.querySelectorAll("[data-field=round][data-status=sending]").forEach(followSend);
