// Historical reports: the same formulas as the live floor, per queue or agent and interval; the
// charts draw the very rows the table shows (one queue or agent, or the "all" rows).
"use strict";
const SHOWN = [["interval_start", "reports.col_interval"], ["key", "reports.col_key"], ["offered", "supervisor.offered"], ["answered", "supervisor.answered"],
  ["abandoned", "supervisor.abandoned"], ["short_abandoned", "supervisor.short_abandoned"], ["callbacks", "supervisor.callbacks"], ["asa_s", "supervisor.asa"],
  ["aht_s", "supervisor.aht"], ["abandon_rate", "supervisor.abandon_rate"], ["service_level", "supervisor.service_level_t"], ["service_level_2", "supervisor.service_level_2_t"],
  ["occupancy", "supervisor.occupancy"], ["csat", "reports.csat"], ["nps", "reports.nps"], ["containment", "reports.containment"]];
const PERCENT = new Set(["abandon_rate", "service_level", "service_level_2", "occupancy", "containment"]);
const SECONDS = new Set(["asa_s", "aht_s"]);
const FORMULAS = new Set(["asa", "aht", "abandon_rate", "service_level", "service_level_2", "occupancy"]);
let report = null;

function shown(field, value) {
  if (value === null || value === undefined) return "–";
  if (PERCENT.has(field)) return I18N.percent(value);
  if (SECONDS.has(field)) return I18N.seconds(value);
  if (typeof value === "number") return I18N.number(value, { maximumFractionDigits: 1 });
  return String(value);
}
function keyName(key) { return key === "all" ? I18N.t(report.by === "agent" ? "reports.all_agents" : "reports.all_queues") : key; }
function when(text, short) {
  const at = new Date(text);
  const oneDay = new Set(report.rows.map((row) => row.interval_start.slice(0, 10))).size <= 1;
  const options = report.interval === "day" ? { year: short ? undefined : "numeric", month: "2-digit", day: "2-digit" }
    : short && oneDay ? { hour: "2-digit", minute: "2-digit" } : { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(I18N.language, options).format(at);
}

async function load(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(document.getElementById("choose"))) if (value) params.set(name, String(value));
  document.getElementById("csv").href = `/reports/data?${params}&format=csv`;
  const response = await fetch(`/reports/data?${params}`, { credentials: "same-origin" });
  if (response.status === 401) { location.assign("/login?next=/reports"); return; }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { document.getElementById("result").textContent = body.error || `${response.status}`; return; }
  report = body;
  const keys = [...new Set(body.rows.map((row) => row.key))].sort((a, b) => (a === "all") - (b === "all") || a.localeCompare(b));
  const picker = document.getElementById("chart-key");
  const kept = picker.value;
  picker.replaceChildren(...["all", ...keys.filter((key) => key !== "all")].map((key) => Object.assign(document.createElement("option"), { value: key, textContent: keyName(key) })));
  picker.value = keys.includes(kept) ? kept : "all";
  render();
}

function render() {
  if (!report) return;
  const head = document.createElement("tr");
  for (const [, key] of SHOWN) { const th = document.createElement("th"); th.scope = "col"; th.textContent = I18N.t(key); head.append(th); }
  document.querySelector("#report thead").replaceChildren(head);
  document.querySelector("#report tbody").replaceChildren(...report.rows.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.key = row.key;
    tr.dataset.interval = row.interval_start;
    for (const [field] of SHOWN) {
      const td = document.createElement("td");
      td.dataset.field = field;
      td.textContent = field === "interval_start" ? when(row[field]) : field === "key" ? keyName(row.key) : shown(field, row[field]);
      tr.append(td);
    }
    return tr;
  }));
  document.getElementById("formulas").replaceChildren(...Object.entries(report.formulas).map(([name, text]) => {
    const li = document.createElement("li");
    li.textContent = FORMULAS.has(name) ? I18N.t(`supervisor.formula.${name}`) : text;
    return li;
  }));
  document.getElementById("result").textContent = I18N.t("reports.rows", { n: I18N.number(report.rows.length) });
  for (const option of document.getElementById("chart-key").options) option.textContent = keyName(option.value);
  drawCharts();
}

function drawCharts() {
  if (!window.Charts) return;
  const key = document.getElementById("chart-key").value || "all";
  const rows = report.rows.filter((row) => row.key === key);
  const labels = rows.map((row) => when(row.interval_start, true));
  const x = { ticks: { autoSkip: true, maxRotation: 0, maxTicksLimit: 12 }, grid: { display: false } };
  const bar = (field, label, color) => ({ type: "bar", label: I18N.t(label), data: rows.map((row) => row[field] ?? 0), backgroundColor: color });
  const legend = { position: "bottom", labels: { boxWidth: 14 } };
  chart("chart-volume", {
    type: "bar",
    data: { labels, datasets: [bar("offered", "supervisor.offered", "#9db4cc"), bar("answered", "supervisor.answered", "#2e8b57"), bar("abandoned", "supervisor.abandoned", "#c0392b")] },
    options: { scales: { x, y: { beginAtZero: true, ticks: { precision: 0, callback: (v) => I18N.number(v) }, title: { display: true, text: I18N.t("reports.axis_calls") } } },
      plugins: { legend, tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${I18N.number(item.parsed.y)}` } } } },
  });
  const percent = (field) => rows.map((row) => (row[field] == null ? null : row[field] * 100));
  chart("chart-quality", {
    type: "line",
    data: { labels, datasets: [
      { label: I18N.t("supervisor.service_level"), data: percent("service_level"), yAxisID: "y", borderColor: "#1d5fa8", backgroundColor: "#1d5fa8", spanGaps: true },
      { label: I18N.t("supervisor.abandon_rate"), data: percent("abandon_rate"), yAxisID: "y", borderColor: "#c0392b", backgroundColor: "#c0392b", borderDash: [6, 4], spanGaps: true },
      { label: I18N.t("supervisor.asa"), data: rows.map((row) => row.asa_s), yAxisID: "seconds", borderColor: "#d68910", backgroundColor: "#d68910", spanGaps: true },
    ] },
    options: { scales: {
      x,
      y: { min: 0, max: 100, position: "left", ticks: { callback: (v) => I18N.percent(v / 100) } },
      seconds: { beginAtZero: true, suggestedMax: 30, position: "right", grid: { drawOnChartArea: false }, ticks: { callback: (v) => I18N.seconds(v) }, title: { display: true, text: I18N.t("supervisor.asa") } },
    }, plugins: { legend, tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${item.dataset.yAxisID === "seconds" ? I18N.seconds(item.parsed.y) : I18N.percent(item.parsed.y / 100)}` } } } },
  });
}

function chart(id, config) {
  const canvas = document.getElementById(id);
  if (!canvas) return;
  Charts.draw(canvas, config);
  canvas.dataset.points = String(config.data.datasets.reduce((n, set) => n + set.data.filter((v) => v != null).length, 0));
}

document.getElementById("choose").addEventListener("submit", load);
document.getElementById("chart-key").addEventListener("change", drawCharts);
document.getElementById("logout").addEventListener("submit", async (event) => {
  event.preventDefault();
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  location.assign("/login");
});
document.addEventListener("i18n:changed", render);
I18N.ready.then(() => load());
