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
    /* `options` (optional): `timeoutMs`, how long to wait before giving up with an error; `stay`, a lost
     * session is an error shown on the page instead of a jump to the log-in (a long action must say
     * how it ended, never leave the page waiting). */
    return async function api(method, path, body, options) {
      options = options || {};
      var headers = { "Content-Type": "application/json" };
      var token = csrf();
      if (token) headers["X-CSRF-Token"] = token;
      var controller = options.timeoutMs ? new AbortController() : null;
      var timer = controller ? setTimeout(function () { controller.abort(); }, options.timeoutMs) : null;
      var reply, data;
      try {
        reply = await fetch(path, {
          method: method, headers: headers, credentials: "same-origin", body: body ? JSON.stringify(body) : undefined,
          signal: controller ? controller.signal : undefined
        });
        if (reply.status === 401) {
          if (options.stay) { var lost = new Error("登录已失效，请重新登录后再试。"); lost.status = 401; throw lost; }
          location.href = "/login?next=" + page; throw new Error("login");
        }
        data = await reply.json().catch(function () { return {}; });
      } catch (err) {
        if (err.status) throw err;
        var failed = new Error(controller && controller.signal.aborted
          ? "等待超时，服务器没有回答。" : "网络中断，服务器没有回答。");
        failed.status = 0; throw failed;
      } finally {
        if (timer) clearTimeout(timer);
      }
      if (!reply.ok) {
        var e = new Error((data.problems && data.problems.join(" ")) || data.error || data.message || ("操作失败（HTTP " + reply.status + "）"));
        e.status = reply.status; e.data = data; throw e;
      }
      return data;
    };
  }

  // For a list that reloads when a filter changes: `var newest = DeskCommon.newestOnly();` once, then
  // `var current = newest();` as a load starts and `if (!current()) return;` when its answer comes.
  // An answer for the filter as it was may come back after the answer for the filter as it is now.
  function newestOnly() {
    var started = 0;
    return function () {
      var mine = ++started;
      return function () { return mine === started; };
    };
  }

  return { $: $, el: el, makeApi: makeApi, newestOnly: newestOnly };
})();
