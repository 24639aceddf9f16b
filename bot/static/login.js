"use strict";
document.getElementById("login").addEventListener("submit", async function (event) {
  event.preventDefault();
  var error = document.getElementById("login-error");
  error.textContent = "";
  var reply = await fetch("/api/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
    body: JSON.stringify({ name: document.getElementById("name").value, password: document.getElementById("password").value })
  });
  var data = await reply.json().catch(function () { return {}; });
  if (!reply.ok) { error.textContent = data.error || "登录失败，请重试。"; return; }
  var next = new URLSearchParams(location.search).get("next");
  // The supervisor sees only the reports; the reports' page asks for a new one-time password itself.
  var home = data.role === "supervisor" ? "/reports" : data.role === "trainer" && !data.must_change ? "/trainer" : "/console";
  var allowed = next && (next.indexOf("/console") === 0 || next.indexOf("/trainer") === 0 || next.indexOf("/reports") === 0);
  location.href = allowed && !data.must_change ? next : home;
});
