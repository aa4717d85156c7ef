// The adjudication review page: undecided pairs, both videos side by side, a blind A / tie / B decision per
// open dimension, saved through the adjudication API.
import { request } from "./api.js";

const root = document.getElementById("review");
const project = root.dataset.project;
const $ = (id) => document.getElementById(id);
const PAGE = 10;
const OUTCOMES = [["A", "Video A better"], ["tie", "Tie"], ["B", "Video B better"]];
let shown = 0; // pairs on the page
let decided = 0; // of which decided since: they left the server's list, so the next page starts earlier

function node(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function video(pair, side) {
  const figure = node("figure");
  const player = node("video");
  Object.assign(player, { controls: true, muted: true, loop: true, preload: "metadata",
    src: `/api/v1/pairs/${pair}/media/${side.toLowerCase()}` });
  figure.append(node("figcaption", `Video ${side}`), player);
  return figure;
}

function describeVotes(votes) {
  const parts = Object.entries(votes).map(([outcome, n]) => `${n}× ${outcome}`);
  return parts.length ? parts.join(", ") : "no votes";
}

function card(item) {
  const section = node("section", undefined, "card review-pair");
  section.append(node("h2", item.prompt));
  const videos = node("div", undefined, "videos");
  videos.append(video(item.pair, "A"), video(item.pair, "B"));
  section.append(videos);

  const open = Object.keys(item.consensus).filter((key) => item.consensus[key] === null);
  const decisions = node("div", undefined, "decisions");
  const chosen = {};
  const save = node("button", "Save decision", "primary");
  save.type = "button";
  save.disabled = true;
  for (const key of open) {
    decisions.append(node("strong", key), node("span", describeVotes(item.votes[key]), "votes"));
    const group = node("span", undefined, "choice");
    for (const [outcome, label] of OUTCOMES) {
      const button = node("button", label);
      button.type = "button";
      button.setAttribute("aria-checked", "false");
      button.addEventListener("click", () => {
        chosen[key] = outcome;
        for (const b of group.children) b.setAttribute("aria-checked", String(b === button));
        save.disabled = open.some((k) => !chosen[k]);
      });
      group.append(button);
    }
    decisions.append(group);
  }
  section.append(decisions);

  const notes = node("details");
  notes.append(node("summary", `${item.judgments.length} judgments`));
  for (const j of item.judgments) {
    const line = node("p", `${j.annotator}: ${Object.entries(j.choices).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    notes.append(line);
    if (j.comment) notes.append(node("blockquote", j.comment));
  }
  section.append(notes);

  const message = node("span", "", "muted");
  save.addEventListener("click", async () => {
    save.disabled = true;
    const answer = await request("POST", `/api/v1/pairs/${item.pair}/adjudication/`, { choices: chosen });
    if (answer.ok) {
      for (const player of section.querySelectorAll("video")) { player.pause(); player.removeAttribute("src"); player.load(); }
      section.replaceChildren(node("p", "Decided. This pair's consensus now follows your decision.", "muted"));
      decided += 1;
    } else {
      message.textContent = answer.message;
      save.disabled = false;
    }
  });
  section.append(save, " ", message);
  return section;
}

async function load() {
  const answer = await request("GET", `/api/v1/projects/${project}/adjudications/?limit=${PAGE}&offset=${shown - decided}`);
  if (!answer.ok) {
    $("status").textContent = answer.message;
    return;
  }
  const data = answer.data;
  $("status").textContent = data.count ? `${data.count} pairs wait for a decision.` : "Nothing to adjudicate: every finished pair has a consensus. A pair comes here once all its votes are in without one.";
  $("pairs").append(...data.results.map(card));
  shown += data.results.length;
  $("more").hidden = shown - decided >= data.count;
}

$("more").addEventListener("click", load);
load();
