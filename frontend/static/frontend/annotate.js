// The annotator's page: lease a pair, play both videos in sync, answer every dimension, submit, repeat.
//
// Two slots of <video> elements (a left and a right each): one on screen, the other buffering the next pair,
// leased ahead with `after`, so submit -> next shows videos at once. Elements and listeners are made once and
// reused; a retired slot drops its src so the browser frees its buffers over a long day of work.
//
// Keys: the page's shortcuts act on the dimension in focus, except that a focused button (or link, checkbox)
// keeps its own Enter and Space, and the single-character ones can be switched off (WCAG 2.1.4).
import { poll, request } from "./api.js";

const root = document.getElementById("annotator");
const $ = (id) => document.getElementById(id);
const api = {
  next: `/api/v1/projects/${root.dataset.project}/assignments/next/`,
  progress: `/api/v1/projects/${root.dataset.project}/progress/`,
  submit: (id) => `/api/v1/assignments/${id}/submit/`,
  skip: (id) => `/api/v1/assignments/${id}/skip/`,
};
const CHOICES = ["left", "tie", "right"]; // keys 1, 2, 3
const CHOICE_LABELS = { left: "Left better", tie: "Tie", right: "Right better" };
const SIDES = ["left", "right"];
const DRIFT_S = 0.08; // re-align the follower when it strays further than this
const STALE_MS = 5000; // a buffered lease this close to expiry is not shown

const screens = Object.fromEntries(SIDES.map((side) => [side, root.querySelector(`.player[data-side="${side}"] .screen`)]));
const slots = [0, 1].map((i) => ({ left: screens.left.children[i], right: screens.right.children[i], lease: null }));
let current = slots[0];
let standby = slots[1];

const SAID_MS = 2500; // a plain message ("Saved.") fades after this; errors stay until the next message

const state = {
  answers: {}, focus: 0, firstPlayAt: null, shownAt: 0, playing: false, busy: false, rate: 1, raf: 0, said: 0,
  scrubbing: false,
};

// ---- kept in the browser -----------------------------------------------------------------------------------

// localStorage can be full or switched off; the page then works as before, it just forgets on reload.
function stored(action) {
  try { return action(window.localStorage); } catch (_) { return null; }
}

// Answers on a live lease survive a reload: kept per assignment, dropped once it is submitted or skipped.
// A lease lasts far less than a day, so older entries (a pair that expired while away) are swept on load.
const KEPT = "vidpref:answers:";
const KEPT_FOR_MS = 24 * 3600 * 1000;
const kept = {
  read: (id) => stored((s) => JSON.parse(s.getItem(KEPT + id))),
  write: (id) => stored((s) => s.setItem(KEPT + id, JSON.stringify({
    answers: state.answers, comment: $("comment").value, at: Date.now(),
  }))),
  drop: (id) => stored((s) => s.removeItem(KEPT + id)),
  sweep: () => stored((s) => {
    const keys = Array.from({ length: s.length }, (_, i) => s.key(i)).filter((key) => key && key.startsWith(KEPT));
    for (const key of keys) {
      const entry = stored(() => JSON.parse(s.getItem(key)));
      if (!entry || !(Date.now() - entry.at < KEPT_FOR_MS)) s.removeItem(key);
    }
  }),
};

const SINGLE_KEYS_OFF = "vidpref:single-key-shortcuts-off";
const singleKeysOn = () => !stored((s) => s.getItem(SINGLE_KEYS_OFF));

// ---- server ------------------------------------------------------------------------------------------------

const call = request;

const errorText = (data, fallback) => (data && data.error && data.error.message) || fallback;

async function refreshProgress() {
  try {
    const { status, data } = await call("GET", api.progress);
    if (status === 200) {
      $("done-today").textContent = data.done_today;
      $("remaining").textContent = data.remaining;
    }
  } catch (_) { /* progress is a nicety; the next refresh will do */ }
}

// ---- slots -------------------------------------------------------------------------------------------------

function load(slot, lease) {
  slot.lease = lease;
  for (const side of SIDES) {
    const video = slot[side];
    if (lease[side].poster) video.poster = lease[side].poster; else video.removeAttribute("poster");
    video.src = lease[side].video;
    video.defaultPlaybackRate = video.playbackRate = state.rate;
  }
}

function unload(slot) {
  slot.lease = null;
  for (const side of SIDES) {
    const video = slot[side];
    video.pause();
    video.removeAttribute("src");
    video.removeAttribute("poster");
    video.load(); // drops the media resource and its buffers
  }
}

const leaseLeftMs = (lease) => Date.parse(lease.expires_at) - Date.now();

async function prefetch() {
  const forId = current.lease && current.lease.id;
  if (!forId || standby.lease) return;
  try {
    const { status, data } = await call("POST", api.next, { after: forId });
    // Ignore an answer that arrives after the page moved on; the server will hand that lease out again.
    if (status === 200 && current.lease && current.lease.id === forId && !standby.lease && data.id !== forId) {
      load(standby, data);
    }
  } catch (_) { /* no prefetch: the next pair loads on demand */ }
}

async function fetchNext() {
  const { status, data } = await call("POST", api.next, {});
  if (status === 200) return data;
  if (status === 204) return null;
  throw new Error(errorText(data, `The server answered ${status}.`));
}

// ---- presenting a pair -------------------------------------------------------------------------------------

function buildDimensions(dimensions) {
  const list = $("dimensions");
  const keys = dimensions.map((d) => d.key).join(",");
  if (list.dataset.keys === keys) return;
  list.dataset.keys = keys;
  list.replaceChildren(...dimensions.map((dim, index) => {
    const item = document.createElement("li");
    item.className = "dim";
    item.dataset.key = dim.key;
    const head = document.createElement("div");
    head.className = "dim-head";
    const label = document.createElement("strong");
    label.textContent = dim.label;
    const description = document.createElement("span");
    description.className = "muted";
    description.textContent = dim.description;
    head.append(label, description);
    const group = document.createElement("div");
    group.className = "choice";
    group.setAttribute("role", "radiogroup");
    group.setAttribute("aria-label", dim.label);
    group.tabIndex = -1; // focused when Enter finds this dimension unanswered
    for (const [n, choice] of CHOICES.entries()) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.choice = choice;
      button.setAttribute("role", "radio");
      button.setAttribute("aria-checked", "false");
      const key = document.createElement("kbd");
      key.textContent = String(n + 1);
      button.append(key, ` ${CHOICE_LABELS[choice]}`);
      onPress(button, () => choose(index, choice));
      group.append(button);
    }
    item.append(head, group);
    item.addEventListener("click", (e) => { if (!e.target.closest("button")) setFocus(index); });
    item.addEventListener("focusin", () => { if (state.focus !== index) setFocus(index); });
    return item;
  }));
}

function present() {
  const lease = current.lease;
  for (const slot of slots) {
    for (const side of SIDES) {
      slot[side].classList.toggle("active", slot === current);
      slot[side].classList.toggle("standby", slot !== current);
    }
  }
  standby.left.pause();
  standby.right.pause();
  $("prompt").textContent = lease.prompt;
  $("guidelines").textContent = lease.guidelines || "No guidelines for this project yet.";
  buildDimensions(lease.dimensions);
  const saved = kept.read(lease.id) || {};
  Object.assign(state, {
    answers: knownAnswers(lease.dimensions, saved.answers), firstPlayAt: null, shownAt: performance.now(), playing: false,
  });
  state.focus = Math.max(0, dimensionItems().findIndex((item) => !state.answers[item.dataset.key]));
  $("comment").value = typeof saved.comment === "string" ? saved.comment : "";
  root.classList.remove("is-loading", "is-empty");
  $("empty").hidden = true;
  // A new pair starts at its prompt and videos, even if the last one was answered scrolled down.
  if (window.scrollY > 0) window.scrollTo({ top: 0 });
  renderAnswers();
  renderTransport();
}

function showEmpty() {
  unload(current);
  unload(standby);
  root.classList.remove("is-loading");
  root.classList.add("is-empty");
  $("empty").hidden = false;
  $("lease-clock").hidden = true;
}

async function start() {
  root.classList.add("is-loading");
  try {
    const lease = await fetchNext();
    if (lease) {
      load(current, lease);
      present();
      prefetch();
    } else {
      showEmpty();
    }
  } catch (error) {
    say(`${error.message} Reload the page to try again.`, true);
  }
  refreshProgress();
}

// ``following``: the lease a submit brought back with it ("next": true), one request per judgment: the pair after
// the prefetched one, or the one to show when nothing was prefetched.
async function advance(following = null) {
  pause();
  unload(current);
  [current, standby] = [standby, current];
  if (following) load(current.lease ? standby : current, following);
  if (current.lease && leaseLeftMs(current.lease) > STALE_MS) {
    present();
    prefetch();
    refreshProgress();
    return;
  }
  unload(current);
  await start();
}

// ---- answers -----------------------------------------------------------------------------------------------

const dimensionItems = () => [...$("dimensions").children];
const openItems = () => dimensionItems().filter((item) => !state.answers[item.dataset.key]);
const complete = () => openItems().length === 0;
const labelOf = (item) => item.querySelector(".dim-head strong").textContent;

// Only answers to this pair's dimensions, in the words the API takes, come back from the browser's copy.
function knownAnswers(dimensions, saved) {
  const answers = {};
  for (const { key } of dimensions) if (saved && CHOICES.includes(saved[key])) answers[key] = saved[key];
  return answers;
}

const listed = (words) => (words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`);

function renderAnswers() {
  dimensionItems().forEach((item, index) => {
    item.classList.toggle("focus", index === state.focus);
    item.classList.toggle("done", Boolean(state.answers[item.dataset.key]));
    for (const button of item.querySelectorAll("button[data-choice]")) {
      button.setAttribute("aria-checked", String(state.answers[item.dataset.key] === button.dataset.choice));
    }
  });
  // Not disabled while answers are open: pressing it says which ones (disabled buttons ignore clicks).
  $("submit").disabled = state.busy;
  $("submit").setAttribute("aria-disabled", String(!complete()));
  if ($("message").dataset.kind === "incomplete") {
    if (complete()) say(""); else say(incompleteText(), true, "incomplete");
  }
}

const incompleteText = () => `Answer ${listed(openItems().map(labelOf))} before submitting.`;

// Enter (or Submit) with answers open: name them where the answers are, and put focus on the first.
function explainIncomplete() {
  const first = openItems()[0];
  say(incompleteText(), true, "incomplete");
  setFocus(dimensionItems().indexOf(first));
  first.querySelector(".choice").focus({ preventScroll: true });
  $("message").scrollIntoView({ block: "nearest" });
}

// On a short screen the lower dimensions sit below the fold: keep the one the keys act on in view.
function revealFocus() {
  const item = dimensionItems()[state.focus];
  if (item) item.scrollIntoView({ block: "nearest" });
}

function setFocus(index) {
  const count = dimensionItems().length;
  state.focus = Math.max(0, Math.min(count - 1, index));
  renderAnswers();
  revealFocus();
}

function choose(index, choice) {
  const item = dimensionItems()[index];
  if (!item || !current.lease) return; // between pairs the rows are the last pair's: keys wait for the next
  state.answers[item.dataset.key] = choice;
  kept.write(current.lease.id);
  // On to the next unanswered dimension, so 1/2/3 four times answers the whole form.
  const items = dimensionItems();
  const nextOpen = items.findIndex((it, i) => i > index && !state.answers[it.dataset.key]);
  state.focus = nextOpen >= 0 ? nextOpen : index;
  renderAnswers();
  revealFocus();
}

// ``kind`` names a message the page keeps up to date ("incomplete" shrinks as answers come in).
function say(text, isError = false, kind = "") {
  const message = $("message");
  message.textContent = text;
  message.dataset.kind = kind;
  message.classList.toggle("error", isError);
  clearTimeout(state.said);
  if (!isError) state.said = setTimeout(() => { if (message.textContent === text) message.textContent = ""; }, SAID_MS);
}

async function finish(kind) {
  const lease = current.lease;
  if (state.busy || !lease) return;
  if (kind === "submit" && !complete()) { explainIncomplete(); return; }
  state.busy = true;
  renderAnswers();
  const body = kind === "submit"
    ? {
      choices: { ...state.answers },
      duration_ms: Math.round(performance.now() - (state.firstPlayAt ?? state.shownAt)),
      comment: $("comment").value.trim(),
      next: true,
      ...(standby.lease ? { after: standby.lease.id } : {}),
    }
    : { reason: $("skip-reason").value };
  try {
    const { status, data } = await call("POST", api[kind](lease.id), body);
    state.busy = false;
    if (status === 200) {
      kept.drop(lease.id);
      say(kind === "submit" ? "Saved." : "Skipped.");
      await advance(data.next);
    } else if ([403, 404, 409].includes(status)) {
      kept.drop(lease.id);
      say(errorText(data, "This pair is no longer yours."), true);
      await advance();
    } else {
      say(errorText(data, `The server answered ${status}; press Enter to try again.`), true);
      renderAnswers();
    }
  } catch (_) {
    // Submitting again is safe: the server answers a repeated submit with the first result.
    state.busy = false;
    say("No connection to the server; press Enter to try again.", true);
    renderAnswers();
  }
}

// ---- synced playback ---------------------------------------------------------------------------------------

const videos = () => [current.left, current.right];
// The longer video drives the clock; the shorter holds its last frame until both loop.
const master = () => ((current.right.duration || 0) > (current.left.duration || 0) ? current.right : current.left);
const follower = () => (master() === current.left ? current.right : current.left);
const length = () => Math.max(current.left.duration || 0, current.right.duration || 0);

function seek(time) {
  for (const video of videos()) {
    if (video.readyState > 0) video.currentTime = Math.max(0, Math.min(time, video.duration - 0.001));
  }
  renderTransport();
}

function play() {
  if (!current.lease) return;
  if (master().ended || master().currentTime >= length() - 0.01) seek(0);
  state.playing = true;
  if (state.firstPlayAt === null) state.firstPlayAt = performance.now();
  for (const video of videos()) video.play().catch(() => {});
  cancelAnimationFrame(state.raf);
  state.raf = requestAnimationFrame(tick);
  renderTransport();
}

function pause() {
  state.playing = false;
  cancelAnimationFrame(state.raf);
  for (const video of videos()) video.pause();
  renderTransport();
}

function tick() {
  const lead = master();
  const other = follower();
  if (!other.ended && other.duration > lead.currentTime && Math.abs(other.currentTime - lead.currentTime) > DRIFT_S) {
    other.currentTime = lead.currentTime;
  }
  renderTransport();
  if (state.playing) state.raf = requestAnimationFrame(tick);
}

function step(direction) {
  pause();
  const frame = (current.lease && current.lease.frame_step_s) || 1 / 30;
  seek(master().currentTime + direction * frame);
}

function setRate(rate) {
  state.rate = rate;
  for (const slot of slots) for (const side of SIDES) slot[side].defaultPlaybackRate = slot[side].playbackRate = rate;
  for (const button of root.querySelectorAll("[data-rate]")) button.classList.toggle("on", Number(button.dataset.rate) === rate);
}

function enlarge(side) {
  const stage = $("stage");
  stage.dataset.enlarged = stage.dataset.enlarged === side ? "" : side;
}

function renderTransport() {
  const total = length();
  const now = master().currentTime || 0;
  const seekBar = $("seek");
  seekBar.max = String(total || 1);
  if (!state.scrubbing) seekBar.value = String(now);
  $("clock").textContent = `${now.toFixed(1)} / ${total.toFixed(1)} s`;
  $("play").textContent = state.playing ? "Pause" : "Play";
}

for (const slot of slots) {
  for (const side of SIDES) {
    const video = slot[side];
    video.addEventListener("ended", () => {
      if (slot !== current || video !== master()) return;
      if ($("loop").checked && state.playing) { seek(0); for (const v of videos()) v.play().catch(() => {}); } else pause();
    });
    video.addEventListener("loadedmetadata", () => { if (slot === current) renderTransport(); });
    video.addEventListener("waiting", () => { if (slot === current) screens[side].classList.add("buffering"); });
    for (const ready of ["canplay", "playing", "emptied"]) {
      video.addEventListener(ready, () => { if (slot === current) screens[side].classList.remove("buffering"); });
    }
    video.addEventListener("error", () => {
      if (slot === current && video.getAttribute("src")) say("A video failed to load. Skip the pair if it does not come back.", true);
    });
  }
}

// ---- lease clock -------------------------------------------------------------------------------------------

poll(() => {
  const clock = $("lease-clock");
  if (!current.lease) { clock.hidden = true; return 1000; }
  const left = Math.round(leaseLeftMs(current.lease) / 1000);
  clock.hidden = left > 120;
  clock.textContent = `${Math.floor(Math.max(left, 0) / 60)}:${String(Math.max(left, 0) % 60).padStart(2, "0")} left on this pair`;
  if (left <= 0 && !state.busy) {
    kept.drop(current.lease.id);
    say("Your time on this pair ran out and it went back to the queue; here is another.", true);
    advance();
  }
  return 1000;
}, { first: 1000 });

// ---- controls and keys -------------------------------------------------------------------------------------

// A button clicked with the mouse lets go of focus, so Space and Enter go back to the page's shortcuts; one
// pressed from the keyboard (detail 0) keeps it, and with it the user's place in the tab order.
function onPress(button, action) {
  button.addEventListener("click", (e) => { if (e.detail > 0) button.blur(); action(e); });
}

onPress($("play"), () => (state.playing ? pause() : play()));
onPress($("step-back"), () => step(-1));
onPress($("step-forward"), () => step(1));
for (const button of root.querySelectorAll("[data-rate]")) onPress(button, () => setRate(Number(button.dataset.rate)));
for (const button of root.querySelectorAll(".enlarge")) onPress(button, () => enlarge(button.dataset.side));
onPress($("submit"), () => finish("submit"));
onPress($("skip"), () => finish("skip"));
onPress($("again"), () => { $("empty").hidden = true; start(); });
$("comment").addEventListener("input", () => { if (current.lease) kept.write(current.lease.id); });

// The slider seeks both videos on every move of a drag and on a click. Its value is read before pause(),
// which redraws the transport, and a drag in progress is not redrawn under the pointer.
const seekBar = $("seek");
seekBar.addEventListener("pointerdown", () => { state.scrubbing = true; });
window.addEventListener("pointerup", () => { if (state.scrubbing) { state.scrubbing = false; renderTransport(); } });
seekBar.addEventListener("input", () => {
  const time = Number(seekBar.value);
  if (state.playing) pause();
  seek(time);
});

const singleKeys = $("single-keys");
singleKeys.checked = singleKeysOn();
singleKeys.addEventListener("change", () => {
  stored((s) => (singleKeys.checked ? s.removeItem(SINGLE_KEYS_OFF) : s.setItem(SINGLE_KEYS_OFF, "1")));
});

// Fields that take typing keep every key. The slider is not one: the arrows step frames, as everywhere else.
const TYPING = "input:not([type=range]):not([type=checkbox]), textarea, select";
const PRESSABLE = "button, summary, a[href], input[type=checkbox]";
const SINGLE_CHARACTER = (key) => key.length === 1; // letters, digits and Space

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || root.classList.contains("is-empty")) return;
  if (e.target.matches(TYPING)) {
    if (e.key === "Escape") e.target.blur();
    if (e.key === "Enter" && e.target.id === "comment") { e.preventDefault(); finish("submit"); }
    return;
  }
  if ((e.key === "Enter" || e.key === " ") && e.target.matches(PRESSABLE)) return;
  if (SINGLE_CHARACTER(e.key) && !singleKeysOn()) return;
  const actions = {
    " ": () => (state.playing ? pause() : play()),
    ArrowLeft: () => step(-1),
    ArrowRight: () => step(1),
    ArrowUp: () => setFocus(state.focus - 1),
    ArrowDown: () => setFocus(state.focus + 1),
    1: () => choose(state.focus, "left"),
    2: () => choose(state.focus, "tie"),
    3: () => choose(state.focus, "right"),
    Enter: () => finish("submit"),
    s: () => finish("skip"),
    r: () => setRate(state.rate === 1 ? 0.5 : 1),
    l: () => { $("loop").checked = !$("loop").checked; },
    z: () => enlarge("left"),
    x: () => enlarge("right"),
    Escape: () => { $("stage").dataset.enlarged = ""; },
    c: () => $("comment").focus(),
  };
  const action = actions[e.key.length === 1 ? e.key.toLowerCase() : e.key];
  if (!action) return;
  e.preventDefault();
  action();
});

kept.sweep();
start();
