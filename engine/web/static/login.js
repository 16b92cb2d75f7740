// Logs in with the agent id and web password, then opens the page asked for (default: the agent desktop).
"use strict";
const LOGIN_PROBLEMS = { 401: "login.wrong", 422: "login.missing", 429: "login.too_many", 503: "login.busy" };
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const form = new FormData(event.target);
  form.set("next", new URLSearchParams(location.search).get("next") || "");
  const response = await fetch("/login", { method: "POST", body: form, credentials: "same-origin" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const known = LOGIN_PROBLEMS[response.status];
    error.textContent = known ? I18N.t(known) : body.error || I18N.t("login.failed", { status: response.status });
    return;
  }
  // The engine checked `next` (a path on this site only; /\\evil.example is not one): go where it says.
  const target = new URL(body.next || "/", location.origin);
  location.assign(target.origin === location.origin ? target.pathname + target.search + target.hash : "/");
});
