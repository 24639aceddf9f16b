/* The 留言 page: messages citizens left while waiting, by status; a clerk marks one and writes a note,
 * or opens the conversation to answer (the answer resolves it). Text is set as text, never HTML. */
"use strict";
(function () {
  var $ = DeskCommon.$, el = DeskCommon.el;
  var me = null, LANGS = {};
  var api = DeskCommon.makeApi("/console/tickets", function () { return me && me.csrf; });
  var STATUS = { open: "待处理", contacted: "已联系", resolved: "已解决" };
  var MARK = { open: "○ ", contacted: "◐ ", resolved: "● " };

  function when(iso) {
    var d = new Date(iso);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + two(d.getHours()) + ":" + two(d.getMinutes());
  }

  var newest = DeskCommon.newestOnly();
  async function load() {
    $("error").textContent = "";
    var current = newest();
    var data;
    try { data = await api("GET", "/api/console/tickets?status=" + encodeURIComponent($("status-filter").value)); }
    catch (e) { if (current()) $("error").textContent = e.message; return; }
    if (!current()) return;
    var body = $("list").querySelector("tbody"); body.textContent = "";
    data.tickets.forEach(function (t) { body.appendChild(row(t)); });
    $("empty").hidden = data.tickets.length > 0;
    $("counts").textContent = "待处理 " + data.counts.open + " · 已联系 " + data.counts.contacted + " · 已解决 " + data.counts.resolved;
  }

  function row(t) {
    var tr = el("tr"); tr.dataset.id = t.id;
    tr.appendChild(el("td", null, when(t.created_at)));
    var conv = el("td"), open = el("a", null, "会话 #" + t.number);
    open.href = "/console?open=" + t.number; open.title = "打开会话 #" + t.number + " 回复群众"; conv.appendChild(open);
    tr.appendChild(conv);
    var lang = el("td", null, t.language ? (LANGS[t.language] || t.language) : "未知");
    tr.appendChild(lang);
    tr.appendChild(el("td", "contact", t.contact));
    var message = el("td", "message", t.message); if (t.language) message.lang = t.language;
    tr.appendChild(message);
    var state = el("td"); state.appendChild(el("span", "state " + t.status, MARK[t.status] + STATUS[t.status])); tr.appendChild(state);
    tr.appendChild(el("td", "handler", t.handled_by || "—"));
    var ops = el("td", "ops");
    var select = el("select"); select.setAttribute("aria-label", "留言 " + t.id + " 的状态");
    Object.keys(STATUS).forEach(function (k) { var o = el("option", null, STATUS[k]); o.value = k; select.appendChild(o); });
    select.value = t.status;
    var note = el("input"); note.value = t.note; note.maxLength = 1000; note.placeholder = "备注";
    note.setAttribute("aria-label", "留言 " + t.id + " 的备注");
    var save = el("button", null, "保存"); save.type = "button";
    save.setAttribute("aria-label", "保存留言 " + t.id + " 的状态和备注");
    save.addEventListener("click", async function () {
      try { await api("POST", "/api/console/tickets/" + t.id, { status: select.value, note: note.value }); await load(); }
      catch (e) { $("error").textContent = e.message; }
    });
    ops.appendChild(select); ops.appendChild(note); ops.appendChild(save);
    tr.appendChild(ops);
    return tr;
  }

  async function start() {
    me = await api("GET", "/api/console/me");
    $("me").textContent = me.name;
    (me.supported_languages || []).forEach(function (l) { LANGS[l.code] = l.name; });
    $("status-filter").addEventListener("change", load);
    $("filter-form").addEventListener("submit", function (e) { e.preventDefault(); load(); });
    await load();
  }
  start();
})();
