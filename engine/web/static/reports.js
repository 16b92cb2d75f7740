// Historical reports: the same formulas as the live floor, per queue or agent and interval.
"use strict";
const SHOWN = [["interval_start", "Interval"], ["key", "Queue / agent"], ["offered", "Offered"], ["answered", "Answered"], ["abandoned", "Abandoned"],
  ["short_abandoned", "Short"], ["callbacks", "Callbacks"], ["asa_s", "ASA s"], ["aht_s", "AHT s"], ["abandon_rate", "Abandon %"], ["service_level", "SL %"],
  ["service_level_2", "SL2 %"], ["occupancy", "Occupancy %"], ["csat", "CSAT"], ["nps", "NPS"], ["containment", "Containment %"]];
const PERCENT = new Set(["abandon_rate", "service_level", "service_level_2", "occupancy", "containment"]);

function cell(field, value) {
  if (value === null || value === undefined) return "–";
  if (PERCENT.has(field)) return `${Math.round(value * 1000) / 10}%`;
  if (typeof value === "number" && !Number.isInteger(value)) return String(Math.round(value * 10) / 10);
  return String(value);
}

async function show(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(document.getElementById("choose"))) if (value) params.set(name, String(value));
  document.getElementById("csv").href = `/reports/data?${params}&format=csv`;
  const response = await fetch(`/reports/data?${params}`, { credentials: "same-origin" });
  if (response.status === 401) { location.assign("/login?next=/reports"); return; }
  const body = await response.json().catch(() => ({}));
  const result = document.getElementById("result");
  if (!response.ok) { result.textContent = body.error || `${response.status}`; return; }
  const head = document.createElement("tr");
  for (const [, title] of SHOWN) { const th = document.createElement("th"); th.scope = "col"; th.textContent = title; head.append(th); }
  document.querySelector("#report thead").replaceChildren(head);
  const rows = body.rows.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.key = row.key;
    tr.dataset.interval = row.interval_start;
    for (const [field] of SHOWN) { const td = document.createElement("td"); td.dataset.field = field; td.textContent = field === "interval_start" ? row[field].replace("T", " ") : cell(field, row[field]); tr.append(td); }
    return tr;
  });
  document.querySelector("#report tbody").replaceChildren(...rows);
  document.getElementById("formulas").replaceChildren(...Object.values(body.formulas).map((text) => { const li = document.createElement("li"); li.textContent = text; return li; }));
  result.textContent = `${body.rows.length} row(s)`;
}

document.getElementById("choose").addEventListener("submit", show);
document.getElementById("logout").addEventListener("submit", async (event) => {
  event.preventDefault();
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  location.assign("/login");
});
show();
