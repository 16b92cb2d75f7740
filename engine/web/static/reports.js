// Historical reports: the same formulas as the live floor, per queue or agent and interval; the
// charts draw the very rows the table shows (one queue or agent, or the "all" rows). By channel:
// contacts, containment, chat-to-phone hand-offs and the repeat rate per channel (channel_metrics.py).
"use strict";
const SHOWN = [["interval_start", "reports.col_interval"], ["key", "reports.col_key"], ["offered", "supervisor.offered"], ["answered", "supervisor.answered"],
  ["abandoned", "supervisor.abandoned"], ["short_abandoned", "supervisor.short_abandoned"], ["callbacks", "supervisor.callbacks"], ["asa_s", "supervisor.asa"],
  ["aht_s", "supervisor.aht"], ["abandon_rate", "supervisor.abandon_rate"], ["service_level", "supervisor.service_level_t"], ["service_level_2", "supervisor.service_level_2_t"],
  ["occupancy", "supervisor.occupancy"], ["csat", "reports.csat"], ["nps", "reports.nps"], ["containment", "reports.containment"]];
const CHANNEL_SHOWN = [["interval_start", "reports.col_interval"], ["key", "reports.col_channel"], ["contacts", "reports.contacts"], ["legs", "reports.legs"],
  ["contained", "reports.contained"], ["containment", "reports.channel_containment"], ["handoffs_offered", "reports.handoffs_offered"],
  ["handoffs_completed", "reports.handoffs_completed"], ["handed_off_contacts", "reports.handed_off_contacts"], ["repeat_checked", "reports.repeat_checked"],
  ["repeated", "reports.repeated"], ["repeat_rate", "reports.repeat_rate"]];
const CHANNEL_FORMULAS = ["reports.formula_contacts", "reports.formula_containment", "reports.formula_handoffs", "reports.formula_repeat_rate"];
const CHANNEL_NAMES = { phone: "reports.channel_phone", chat: "reports.channel_chat", api: "reports.channel_api" };
const CHANNEL_COLORS = { phone: "#1d5fa8", chat: "#2e8b57", api: "#8e6bbf" };
const PERCENT = new Set(["abandon_rate", "service_level", "service_level_2", "occupancy", "containment", "repeat_rate"]);
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
function keyName(key) {
  if (report.by === "channel") return key === "all" ? I18N.t("reports.all_channels") : CHANNEL_NAMES[key] ? I18N.t(CHANNEL_NAMES[key]) : key;
  return key === "all" ? I18N.t(report.by === "agent" ? "reports.all_agents" : "reports.all_queues") : key;
}
const byChannel = () => report.by === "channel";
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
  const columns = byChannel() ? CHANNEL_SHOWN : SHOWN;
  const head = document.createElement("tr");
  for (const [, key] of columns) { const th = document.createElement("th"); th.scope = "col"; th.textContent = I18N.t(key); head.append(th); }
  document.querySelector("#report thead").replaceChildren(head);
  document.querySelector("#report tbody").replaceChildren(...report.rows.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.key = row.key;
    tr.dataset.interval = row.interval_start;
    for (const [field] of columns) {
      const td = document.createElement("td");
      td.dataset.field = field;
      td.textContent = field === "interval_start" ? when(row[field]) : field === "key" ? keyName(row.key) : shown(field, row[field]);
      tr.append(td);
    }
    return tr;
  }));
  const formulas = byChannel() ? CHANNEL_FORMULAS.map((key) => I18N.t(key))
    : Object.entries(report.formulas).map(([name, text]) => (FORMULAS.has(name) ? I18N.t(`supervisor.formula.${name}`) : text));
  document.getElementById("formulas").replaceChildren(...formulas.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  document.getElementById("note").hidden = byChannel();
  document.getElementById("chart-key").closest("p").style.display = byChannel() ? "none" : "";
  document.getElementById("caption-volume").textContent = I18N.t(byChannel() ? "reports.chart_contacts" : "reports.chart_volume");
  document.getElementById("caption-quality").textContent = I18N.t(byChannel() ? "reports.chart_channels" : "reports.chart_quality");
  document.getElementById("result").textContent = I18N.t("reports.rows", { n: I18N.number(report.rows.length) });
  for (const option of document.getElementById("chart-key").options) option.textContent = keyName(option.value);
  drawCharts();
}

function drawCharts() {
  if (!window.Charts) return;
  if (byChannel()) { drawChannelCharts(); return; }
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

/** Contacts per channel (stacked bars) and containment per channel with the repeat rate (lines), per interval. */
function drawChannelCharts() {
  const slots = [...new Set(report.rows.map((row) => row.interval_start))];
  const labels = slots.map((slot) => when(slot, true));
  const channels = [...new Set(report.rows.map((row) => row.key).filter((key) => key !== "all"))];
  const value = (key, field, scale = 1) => slots.map((slot) => {
    const row = report.rows.find((r) => r.interval_start === slot && r.key === key);
    return row && row[field] != null ? row[field] * scale : null;
  });
  const x = { stacked: true, ticks: { autoSkip: true, maxRotation: 0, maxTicksLimit: 12 }, grid: { display: false } };
  const legend = { position: "bottom", labels: { boxWidth: 14 } };
  const color = (key) => CHANNEL_COLORS[key] || "#9db4cc";
  chart("chart-volume", {
    type: "bar",
    data: { labels, datasets: channels.map((key) => ({ type: "bar", label: keyName(key), data: value(key, "contacts").map((v) => v ?? 0), backgroundColor: color(key) })) },
    options: { scales: { x, y: { stacked: true, beginAtZero: true, ticks: { precision: 0, callback: (v) => I18N.number(v) }, title: { display: true, text: I18N.t("reports.axis_contacts") } } },
      plugins: { legend, tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${I18N.number(item.parsed.y)}` } } } },
  });
  chart("chart-quality", {
    type: slots.length > 2 ? "line" : "bar",  // one or two intervals: bars side by side, not points on an edge
    data: { labels, datasets: [
      ...channels.map((key) => ({ label: `${I18N.t("reports.channel_containment")} · ${keyName(key)}`, data: value(key, "containment", 100), borderColor: color(key), backgroundColor: color(key), spanGaps: true })),
      { label: I18N.t("reports.repeat_rate"), data: value("all", "repeat_rate", 100), borderColor: "#c0392b", backgroundColor: "#c0392b", borderDash: [6, 4], spanGaps: true },
    ] },
    options: { scales: { x: { ...x, stacked: false }, y: { min: 0, max: 100, ticks: { callback: (v) => I18N.percent(v / 100) } } },
      plugins: { legend, tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${I18N.percent(item.parsed.y / 100)}` } } } },
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
