// The sign-in form: a token or a user and password, posted as JSON with the X-Labeler header
// (which no cross-site form can send), then on to the page.
"use strict";

const $ = (id) => document.getElementById(id);

async function start() {
  const how = await (await fetch("/api/login")).json();
  if (!how.mode) { location.replace("/"); return; }
  const users = how.mode === "users";
  $("user-row").hidden = $("password-row").hidden = !users;
  $("token-row").hidden = users;
  (users ? $("user") : $("token")).focus();
  if (location.pathname === "/login" && new URLSearchParams(location.search).has("token")) {
    showError("That token is not this server's.");
  }
  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = users ? { user: $("user").value, password: $("password").value }
                         : { token: $("token").value };
    const response = await fetch("/api/login", {
      method: "POST", body: JSON.stringify(fields),
      headers: { "Content-Type": "application/json", "X-Labeler": "1" },
    });
    if (response.ok) { location.replace("/"); return; }
    const body = await response.json().catch(() => ({}));
    showError(body.detail || `${response.status} ${response.statusText}`);
  });
}

function showError(message) {
  $("login-error").textContent = message;
  $("login-error").hidden = false;
}

start();
