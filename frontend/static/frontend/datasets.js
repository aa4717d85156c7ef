// Datasets page: follow queued and running versions until they finish, then reload to show their files; preview
// the rows and prompts per split as the new-version form changes.
import { poll, request } from "./api.js";

const live = Array.from(document.querySelectorAll("tr[data-live]"));

async function follow() {
  for (const row of live) {
    const answer = await request("GET", `/api/v1/exports/${row.dataset.version}/`);
    if (!answer.ok) continue;
    const version = answer.data;
    if (version.status === "succeeded" || version.status === "failed") {
      window.location.reload();
      return null;
    }
    const status = row.querySelector(".status");
    status.textContent = version.status;
    status.className = `status ${version.status}`;
    const bar = row.querySelector(".progress > span");
    if (bar) bar.style.width = `${Math.round(version.progress * 100)}%`;
  }
  return 2000;
}
if (live.length) poll(follow, { first: 1000 });

// The preview follows the form as it changes.
function previewWhileTyping(form) {
  const box = form.querySelector("[data-role=preview]");
  let timer = null;
  let asked = 0;
  async function preview() {
    const query = new URLSearchParams(new FormData(form));
    query.delete("csrfmiddlewaretoken");
    const mine = ++asked;
    const response = await fetch(`${form.dataset.previewUrl}?${query}`, { credentials: "same-origin" });
    if (response.ok && mine === asked) box.innerHTML = await response.text(); // only the answer to the latest ask
  }
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  });
}
const form = document.querySelector("form[data-preview-url]");
if (form) previewWhileTyping(form);
