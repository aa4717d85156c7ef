// The pipeline page: the history chart over executions, and saving the settings through the API.
import { request } from "./api.js";
import * as charts from "./charts.js";

const history = JSON.parse(document.getElementById("pipeline-history-data")?.textContent || "[]");
const chart = document.getElementById("pipeline-history");
if (chart) {
  const series = new Map();
  const add = (name, x, y) => {
    if (y === null || y === undefined) return;
    if (!series.has(name)) series.set(name, []);
    series.get(name).push([x, y]);
  };
  for (const point of history) {
    for (const [key, acc] of Object.entries(point.new || {})) {
      add(`${key} with ties`, point.number, acc.acc_with_ties);
      add(`${key} without ties`, point.number, acc.acc_without_ties);
    }
    for (const [key, acc] of Object.entries(point.agreement || {})) {
      add(`${key} agreement with people`, point.number, acc.acc_with_ties);
    }
  }
  charts.lines(chart, series, { title: "Reward model accuracy over pipeline executions" });
}

const form = document.getElementById("pipeline-settings");
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = form.querySelector("[data-role=message]");
  let settings;
  try {
    settings = JSON.parse(form.elements.settings.value);
  } catch (error) {
    message.textContent = `Not JSON: ${error.message}`;
    return;
  }
  const answer = await request("PUT", form.dataset.url, settings);
  if (answer.ok) window.location.reload();
  else message.textContent = answer.message;
});
