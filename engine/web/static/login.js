// Logs in with the agent id and web password, then opens the page asked for (default: the agent desktop).
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch("/login", { method: "POST", body: new FormData(event.target), credentials: "same-origin" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.textContent = body.error || `login failed (${response.status})`;
    return;
  }
  const next = new URLSearchParams(location.search).get("next");
  location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : body.next);
});
