// Logs in with the agent id and web password, then opens the page asked for (default: the agent desktop).
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const form = new FormData(event.target);
  form.set("next", new URLSearchParams(location.search).get("next") || "");
  const response = await fetch("/login", { method: "POST", body: form, credentials: "same-origin" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.textContent = body.error || `login failed (${response.status})`;
    return;
  }
  // The engine checked `next` (a path on this site only; /\\evil.example is not one): go where it says.
  const target = new URL(body.next || "/", location.origin);
  location.assign(target.origin === location.origin ? target.pathname + target.search + target.hash : "/");
});
