// Runs pages: start runs through the REST API, follow progress by polling, draw loss/accuracy curves.
import { poll, request } from "./api.js";
import { lines } from "./charts.js";

const TERMINAL = ["succeeded", "failed", "cancelled"];
const POLL_MS = 1000;

async function api(method, url, body) {
  const answer = await request(method, url, body);
  if (!answer.ok) {
    const error = new Error((answer.data && answer.data.error && answer.data.error.message) || `${answer.status} ${answer.statusText}`);
    error.fields = answer.fields;
    throw error;
  }
  return answer.data;
}

// --- forms --------------------------------------------------------------------------------------------------

function fieldValue(el) {
  const type = el.dataset.type || "str";
  if (type === "bool") return el.checked;
  const raw = el.value.trim();
  if (raw === "") return undefined;
  switch (type) {
    case "int": return Number.parseInt(raw, 10);
    case "float": return Number.parseFloat(raw);
    case "list": return raw.split(",").map((s) => s.trim()).filter(Boolean);
    case "list-int": return raw.split(",").map((s) => Number.parseInt(s.trim(), 10)).filter((n) => !Number.isNaN(n));
    case "lines": return raw.split("\n").map((s) => s.trim()).filter(Boolean);
    case "dict": return JSON.parse(raw);
    default: return raw;
  }
}

function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.matches(":disabled")) continue;
    const value = fieldValue(el);
    if (value === undefined) continue;
    const [group, key] = el.name.includes(".") ? el.name.split(".", 2) : [null, el.name];
    if (group === "hp") (body.hyperparameters ||= {})[key] = value;
    else if (group === "nrg") (body.nrg_weights ||= {})[key] = value;
    else body[key] = value;
  }
  return body;
}

// The message once, plus what a field's own error adds to it; the fields it names are marked (aria-invalid) until
// the next try. "hyperparameters.width" is the form's "hp.width".
function showError(container, error) {
  const box = container.querySelector("[data-role=error]");
  container.querySelectorAll("[aria-invalid=true]").forEach((el) => el.removeAttribute("aria-invalid"));
  const extra = [];
  for (const [key, value] of Object.entries(error.fields || {})) {
    const text = [].concat(value).join(" ");
    if (!error.message.includes(text)) extra.push(`${key}: ${text}`);
    const name = key.replace(/^hyperparameters\./, "hp.").replace(/^nrg_weights$/, "nrg_run");
    container.querySelectorAll(`[name="${name}"]`).forEach((el) => el.setAttribute("aria-invalid", "true"));
  }
  if (box) box.textContent = [error.message, ...extra].filter(Boolean).join("\n");
}

// A base model may suggest settings for its runs (its vidpref.json; the demo's tiny models keep runs small with
// it): choosing the model fills them in and puts every other setting back to the form's default.
function applyRunDefaults(form, byPath) {
  const select = form.querySelector("select[name=base_model_path]");
  const suggested = (byPath[select.value] || {})[form.dataset.runKind] || {};
  for (const el of form.querySelectorAll("[name^='hp.']")) {
    const value = suggested[el.name.slice(3)];
    if (el.type === "checkbox") el.checked = value === undefined ? el.defaultChecked : Boolean(value);
    else if (el.tagName === "SELECT") {
      const initial = [...el.options].find((option) => option.defaultSelected) || el.options[0];
      el.value = value === undefined ? initial.value : String(value);
    } else el.value = value === undefined ? el.defaultValue : String(value);
  }
}

function setupForms() {
  const runDefaults = JSON.parse(document.getElementById("run-defaults")?.textContent || "{}");
  for (const form of document.querySelectorAll("form[data-run-kind]")) {
    const select = form.querySelector("select[name=base_model_path]");
    select.addEventListener("change", () => applyRunDefaults(form, runDefaults));
    applyRunDefaults(form, runDefaults);
  }
  // Each alignment method has its own settings (and defaults): only the chosen method's are shown and sent.
  for (const select of document.querySelectorAll("form[data-run-kind] select[name=method]")) {
    const showMethodSettings = () => {
      for (const box of select.form.querySelectorAll("details[data-methods]")) {
        const chosen = box.dataset.methods.split(" ").includes(select.value);
        box.hidden = !chosen;
        box.querySelector("fieldset").disabled = !chosen;
      }
    };
    select.addEventListener("change", showMethodSettings);
    showMethodSettings();
  }
  for (const form of document.querySelectorAll("form.run-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      showError(form, { message: "" });
      try {
        const run = await api("POST", form.dataset.api, formBody(form));
        if (form.dataset.after === "reload") window.location.reload();
        else window.location.href = `/runs/${run.id}/`;
      } catch (error) {
        showError(form, error);
        button.disabled = false;
      }
    });
  }
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api("POST", button.dataset.url);
        if (button.dataset.action === "cancel") button.textContent = "Cancelling…";
        else window.location.reload();
      } catch (error) {
        const container = button.closest("section, form");
        if (container && container.querySelector("[data-role=error]")) showError(container, error);
        else window.alert(error.message);
        button.disabled = false;
      }
    });
  }
  for (const select of document.querySelectorAll("[data-role=nrg-run]")) {
    select.addEventListener("change", () => nrgSliders(select));
    nrgSliders(select);
  }
}

// One slider per dimension the chosen latent reward model scores: λ from -2 (away) to 2 (towards).
function nrgSliders(select) {
  const box = select.form.querySelector("[data-role=nrg-sliders]");
  const option = select.selectedOptions[0];
  const dims = option && option.dataset.dimensions ? option.dataset.dimensions.split(",").filter(Boolean) : [];
  box.querySelectorAll("label").forEach((label) => label.remove());
  box.hidden = dims.length === 0;
  for (const dim of dims) {
    const label = document.createElement("label");
    label.innerHTML = `<span>${dim}</span><input type="range" min="-2" max="2" step="0.1" value="1" name="nrg.${dim}" data-type="float"><output>1.0</output>`;
    const input = label.querySelector("input");
    input.addEventListener("input", () => { label.querySelector("output").textContent = Number(input.value).toFixed(1); });
    box.appendChild(label);
  }
}

// --- progress -----------------------------------------------------------------------------------------------

function formatEta(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  if (s < 60) return `ETA ${s} s`;
  if (s < 3600) return `ETA ${Math.floor(s / 60)} min ${s % 60} s`;
  return `ETA ${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function percent(fraction) {
  return `${Math.round(100 * fraction)}%`;
}

function setField(root, name, text) {
  const el = root.querySelector(`[data-field=${name}]`);
  if (el && el.textContent !== text) el.textContent = text;
  return el;
}

// "train: training, step 3 of 10"; before its first step a phase says what it is doing (loading weights, encoding
// latents), and a queued run says what it waits for.
function phaseText(state, long) {
  if (!state.phase) return state.status === "queued" ? "waiting for a worker" : "";
  const what = state.activity ? `${state.phase}: ${state.activity}` : state.phase;
  if (!state.total_steps || !state.step) return what;
  return long ? `${what}, step ${state.step} of ${state.total_steps}` : `${what} ${state.step}/${state.total_steps}`;
}

// A log or traceback box shows its end (the newest line, the exception) unless the reader scrolled up in it.
function setTail(root, name, text) {
  const el = root.querySelector(`[data-field=${name}]`);
  if (!el || el.textContent === text) return;
  const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  el.textContent = text;
  if (atEnd) el.scrollTop = el.scrollHeight;
}

function setStatus(root, status) {
  const el = setField(root, "status", status);
  if (el) el.className = `status status-${status}`;
}

function followTable(table) {
  poll(async () => {
    const page = await api("GET", table.dataset.poll);
    let active = false;
    let unseen = false;
    for (const run of page.results) {
      const row = table.querySelector(`tr[data-run-id="${run.id}"]`);
      if (!row) {
        unseen = true; // started from another page, the API or a shell: offer a reload rather than lose a form
        continue;
      }
      setStatus(row, run.status);
      row.querySelector("[data-field=bar]").style.width = percent(run.progress);
      const phase = phaseText(run, false);
      setField(row, "text", `${percent(run.progress)}${phase ? ` · ${phase}` : ""}`);
      active ||= !TERMINAL.includes(run.status);
    }
    const notice = table.parentElement.querySelector("[data-role=new-runs]");
    if (notice) notice.hidden = !unseen;
    return active ? POLL_MS * 2 : POLL_MS * 10;
  }, { retry: POLL_MS * 10 });
}

// --- charts ---------------------------------------------------------------------------------------------------

// A curve gains a point per logged step; values that are not numbers (a dimension absent from a batch) are skipped.
function addPoint(series, name, step, value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return;
  if (!series.has(name)) series.set(name, []);
  const points = series.get(name);
  while (points.length && points[points.length - 1][0] >= step) points.pop(); // a resumed run replays steps
  points.push([step, value]);
}

// Which logged values go on which chart: losses on one, accuracies (per dimension) on the other.
function chartValues(values) {
  const loss = {};
  const acc = {};
  for (const [key, value] of Object.entries(values)) {
    if (key === "acc" && value && typeof value === "object") {
      for (const [dim, v] of Object.entries(value)) acc[dim] = v;
    } else if (key.includes("loss")) loss[key] = value;
    else if (key === "accuracy" || key === "implicit_acc") acc[key] = value;
  }
  return { loss, acc };
}

async function followRun(root) {
  // Training runs only: each chart's curves (name -> [[step, value], ...]), drawn by charts.js.
  const charts = Object.entries({ loss: "Loss", acc: "Accuracy" })
    .map(([key, title]) => ({ key, title, node: document.getElementById(`chart-${key}`), series: new Map() }))
    .filter((chart) => chart.node);
  const draw = () => charts.forEach((c) => lines(c.node, c.series, { title: c.title }));
  draw(); // "No points yet" until the first answer
  const startedTerminal = TERMINAL.includes(root.dataset.status);
  for (const name of ["log", "error"]) {
    const el = root.querySelector(`[data-field=${name}]`);
    if (el) el.scrollTop = el.scrollHeight; // the server-rendered text opens at its end too
  }
  let after = 0;
  poll(async () => {
    const state = await api("GET", `${root.dataset.progressUrl}?after=${after}`);
    for (const point of state.metrics) {
      after = point.id;
      const values = chartValues(point.values);
      for (const chart of charts) {
        for (const [name, y] of Object.entries(values[chart.key])) addPoint(chart.series, name, point.step, y);
      }
    }
    if (state.metrics.length) draw(); // only then: a redraw replaces the curves under the pointer, hiding their titles
    setStatus(root, state.status);
    root.dataset.status = state.status; // runs.css colours a failed run's bar
    root.querySelector("[data-field=bar]").style.width = percent(state.progress);
    setField(root, "percent", percent(state.progress));
    setField(root, "detail", phaseText(state, true));
    const eta = TERMINAL.includes(state.status) ? "" : formatEta(state.eta_seconds);
    setField(root, "eta", eta && `· ${eta}`);
    setField(root, "attempts", `${state.attempts} of ${state.max_attempts}`);
    setField(root, "worker", `${state.worker_host || "—"} · ${state.device || "—"}`);
    setTail(root, "log", state.log_tail);
    if (state.error) {
      setTail(root, "error", state.error);
      root.querySelector("[data-role=error-box]").hidden = false;
      const summary = root.querySelector("[data-field=error-summary]");
      const last = state.error.trim().split("\n").pop();
      if (summary && summary.dataset.text !== last) {
        summary.dataset.text = last;
        summary.replaceChildren(`${last} `, Object.assign(document.createElement("a"), { href: "#error", textContent: "Traceback" }));
        summary.hidden = false;
      }
    }
    if (state.more_metrics) return 0;
    if (!TERMINAL.includes(state.status)) return POLL_MS;
    if (!startedTerminal) window.location.reload(); // show the outputs the server renders
    return null;
  }, { retry: POLL_MS * 5 });
}

document.addEventListener("DOMContentLoaded", () => {
  // The project filter applies on change (no inline handler: the CSP refuses inline script).
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  setupForms();
  const table = document.getElementById("runs-table");
  if (table) followTable(table);
  const run = document.getElementById("run");
  if (run) followRun(run);
});
