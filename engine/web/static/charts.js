// Charts for the supervisor's wallboard and the reports page: Chart.js 4 (its UMD build, served
// from /static/vendor/chart.js/ like SIP.js; no CDN, nothing inline, so the CSP holds). Times on
// the x axis are epoch milliseconds on a linear scale, labelled hh:mm in the reader's language.
"use strict";
(function () {
  const PALETTE = ["#1d5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#16a085", "#5d6d7e"];
  const STATUS_COLORS = { available: "#2e8b57", reserved: "#f0a500", on_call: "#1d5fa8", wrap_up: "#8e44ad", paused: "#c0392b" };
  const ready = typeof window.Chart === "function";
  if (ready) {
    Chart.defaults.animation = false;  // a wall screen redraws every second: no motion
    Chart.defaults.font.family = "system-ui, sans-serif";
    Chart.defaults.font.size = 13;
    Chart.defaults.maintainAspectRatio = false;
  }

  function clock(ms) {
    return new Intl.DateTimeFormat(I18N.language, { hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
  }

  // A chart on `canvas`, or null with the canvas's box saying why (Chart.js not installed).
  function draw(canvas, config) {
    if (!ready) {
      const note = document.createElement("p");
      note.className = "error";
      note.textContent = I18N.t("supervisor.charts_missing");
      canvas.replaceWith(note);
      return null;
    }
    const existing = Chart.getChart(canvas);
    if (existing) existing.destroy();
    return new Chart(canvas, config);
  }

  // An axis tick on a 24-hour clock, "14:00": short enough to stay level in every language (a wall's axis, not a sentence).
  function tick(ms) {
    return new Intl.DateTimeFormat(I18N.language, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(ms));
  }

  function timeAxis(min, max) {
    return { type: "linear", min, max, ticks: { maxTicksLimit: 9, maxRotation: 0, callback: (value) => tick(value) }, grid: { color: "#eef0f3" } };
  }

  function color(index) { return PALETTE[index % PALETTE.length]; }

  window.Charts = { ready, draw, timeAxis, clock, color, STATUS_COLORS };
})();
