// Manager page: follow running imports and pending videos through the API, and play videos in a dialog.
import { poll, request } from "./api.js";

const project = document.getElementById("counts").dataset.project;
const api = (path) => request("GET", `/api/v1/${path}`).then((answer) => (answer.ok ? answer.data : null));

// Player: a click on a poster plays the video here instead of leaving the page.
const dialog = document.getElementById("player");
const video = dialog.querySelector("video");
document.addEventListener("click", (event) => {
  const link = event.target.closest("a.play");
  if (!link || !dialog.showModal) return;
  event.preventDefault();
  video.src = link.href;
  dialog.showModal();
  video.play().catch(() => {});
});
dialog.addEventListener("close", () => { video.pause(); video.removeAttribute("src"); video.load(); });

// An upload of a few hundred MB shows nothing until it ends: say so on the button, and stop a second submit.
const formButtons = Array.from(document.querySelectorAll(".manage-grid form")).map((form) => {
  const button = form.querySelector("button");
  const label = button.textContent;
  form.addEventListener("submit", () => {
    button.disabled = true;
    const file = form.querySelector("input[type=file]");
    button.textContent = file && file.files.length ? "Uploading…" : "Working…";
  });
  return [button, label];
});
// Back to this page from the next one: the browser may restore it with the buttons still disabled.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) for (const [button, label] of formButtons) { button.disabled = false; button.textContent = label; }
});

function setStatus(el, status) {
  el.textContent = status;
  el.className = `status ${status}`;
}

function showJob(row, job) {
  setStatus(row.querySelector(".status"), job.status);
  const handled = job.done_rows + job.failed_rows;
  row.querySelector(".progress > span").style.width = `${job.total_rows ? (100 * handled) / job.total_rows : 0}%`;
  row.querySelector(".done").textContent = job.done_rows;
  row.querySelector(".failed").textContent = job.failed_rows;
  row.querySelector(".total").textContent = job.total_rows;
  row.querySelector(".job-error").textContent = job.error;
  const details = row.querySelector("details");
  details.hidden = job.errors.length === 0;
  const list = details.querySelector(".row-errors");
  list.replaceChildren(...job.errors.map((e) => {
    const item = document.createElement("li");
    item.textContent = `row ${e.row}: ${e.error}`;
    return item;
  }));
}

async function pollJobs() {
  const live = Array.from(document.querySelectorAll("tr[data-job][data-live]"));
  for (const row of live) {
    const job = await api(`imports/${row.dataset.job}/`);
    if (!job) continue;
    showJob(row, job);
    if (job.status === "succeeded" || job.status === "failed") delete row.dataset.live;
  }
  return live.length > 0;
}

function showVideo(row, v) {
  setStatus(row.querySelector(".status"), v.status);
  row.querySelector(".video-error").textContent = v.error;
  const thumb = row.querySelector(".thumb");
  if (v.poster_url && !thumb.querySelector("img")) {
    const link = Object.assign(document.createElement("a"), { href: v.file_url, className: "play" });
    link.append(Object.assign(document.createElement("img"), { src: v.poster_url, alt: `poster of video ${v.id}` }));
    thumb.append(link);
  }
}

async function pollVideos() {
  let pending = 0;
  for (const el of document.querySelectorAll("[data-count]")) {
    const page = await api(`projects/${project}/videos/?status=${el.dataset.count}&limit=1`);
    if (page) el.textContent = page.count;
    if (page && el.dataset.count === "pending") pending = page.count;
  }
  for (const row of document.querySelectorAll("tr[data-video]")) {
    if (row.querySelector(".status").textContent !== "pending") continue;
    const v = await api(`projects/${project}/videos/${row.dataset.video}/`);
    if (v) showVideo(row, v);
  }
  return pending > 0;
}

async function tick() {
  const jobsLive = await pollJobs();
  const videosPending = await pollVideos();
  return jobsLive || videosPending ? 2000 : null;
}
const pendingNow = Number(document.querySelector('[data-count="pending"]').textContent) > 0;
if (pendingNow || document.querySelector("tr[data-job][data-live]")) poll(tick, { first: 1000 });
