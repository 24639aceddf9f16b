/* What the clerks' console and the trainer's workbench share: building nodes as text (never
 * HTML) and calling the desk's JSON API with the session's CSRF token. */
"use strict";
var DeskCommon = (function () {
  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }

  /* An api(method, path, body) for one page: `page` is where log-in sends the user back,
   * `csrf()` gives the current session's token (null before /me is read). */
  function makeApi(page, csrf) {
    return async function api(method, path, body) {
      var headers = { "Content-Type": "application/json" };
      var token = csrf();
      if (token) headers["X-CSRF-Token"] = token;
      var reply = await fetch(path, { method: method, headers: headers, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined });
      if (reply.status === 401) { location.href = "/login?next=" + page; throw new Error("login"); }
      var data = await reply.json().catch(function () { return {}; });
      if (!reply.ok) {
        var e = new Error((data.problems && data.problems.join(" ")) || data.error || data.message || "操作失败");
        e.status = reply.status; e.data = data; throw e;
      }
      return data;
    };
  }

  return { $: $, el: el, makeApi: makeApi };
})();
