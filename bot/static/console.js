/* Clerks' console. State comes from the desk's API; socket.io only says "something changed".
 * All text goes into the page as text (textContent), never as HTML. */
"use strict";
(function () {
  var REASONS = {
    user_request: "群众要求人工", complaint: "投诉", repeated_misunderstanding: "机器人多次未理解",
    case_verification_failed: "办件核验失败", bot_unavailable: "机器人暂不可用", taken_over: "工作人员主动接管"
  };
  var STATES = { bot: "机器人服务中", waiting: "排队等待人工", clerk: "人工服务中", closed: "已结束" };
  var me = null, selected = null, current = null, queue = [], live = [], audio = null, soundOn = false;

  var $ = DeskCommon.$, el = DeskCommon.el;
  var api = DeskCommon.makeApi("/console", function () { return me && me.csrf; });

  function waited(since) {
    if (!since) return "";
    var s = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
    return s < 60 ? s + "秒" : Math.floor(s / 60) + "分" + (s % 60) + "秒";
  }

  function understoodText(u) {
    if (!u) return "";
    var parts = [];
    if (u.guide_item) parts.push(title(u.guide_item));
    if (u.aspect) parts.push(u.aspect);
    if (u.intent) parts.push("意图 " + u.intent);
    return parts.join(" · ");
  }
  var guideTitles = {};
  function title(item) { return guideTitles[item] || item; }

  function renderQueue() {
    var list = $("queue"); list.textContent = "";
    $("queue-count").textContent = String(queue.length);
    if (!queue.length) list.appendChild(el("li", "muted", "暂无排队"));
    queue.forEach(function (c) {
      var li = el("li"); li.setAttribute("data-id", c.id);
      if (c.id === selected) li.classList.add("selected");
      var row = el("div", "row");
      row.appendChild(el("span", "reason", REASONS[c.reason] || c.reason || "转人工"));
      var wait = el("span", "wait", waited(c.waiting_since)); wait.setAttribute("data-since", c.waiting_since || "");
      row.appendChild(wait); li.appendChild(row);
      li.appendChild(el("div", "meta", [c.country, c.site].filter(Boolean).join(" / ") + (understoodText(c.understood) ? "  " + understoodText(c.understood) : "")));
      if (c.last_citizen_text) li.appendChild(el("div", "last", c.last_citizen_text));
      li.addEventListener("click", function () { select(c.id); });
      list.appendChild(li);
    });
  }

  function renderLive() {
    var list = $("live"); list.textContent = "";
    live.filter(function (c) { return c.state !== "waiting"; }).forEach(function (c) {
      var li = el("li"); li.setAttribute("data-id", c.id);
      if (c.id === selected) li.classList.add("selected");
      var row = el("div", "row");
      row.appendChild(el("span", null, STATES[c.state] + (c.clerk ? " · " + c.clerk : "")));
      row.appendChild(el("span", "muted", c.id.slice(0, 6)));
      li.appendChild(row);
      if (c.last_citizen_text) li.appendChild(el("div", "last", c.last_citizen_text));
      li.addEventListener("click", function () { select(c.id); });
      list.appendChild(li);
    });
  }

  async function refreshLists() {
    var q = await api("GET", "/api/console/queue");
    queue = q.queue; renderOnline(q.clerks); renderQueue();
    live = (await api("GET", "/api/console/live")).conversations; renderLive();
  }

  function renderOnline(clerks) {
    $("online").textContent = "在线：" + (clerks.map(function (c) { return c.name; }).join("、") || "无");
  }

  function line(m) {
    var who = { citizen: "群众", bot: "机器人", clerk: "工作人员 " + (m.author || ""), system: "系统" }[m.sender];
    var node = el("div", "line " + m.sender); node.setAttribute("data-id", m.id);
    node.appendChild(el("span", "who", who + " · " + new Date(m.at).toLocaleTimeString("zh-CN")));
    node.appendChild(el("span", "text", m.text));
    var custom = (m.data && m.data.custom) || {};
    if (custom.guide_item) node.appendChild(el("span", "guide", "指南：" + title(custom.guide_item) + (custom.aspect ? " · " + custom.aspect : "") + "（示例内容）"));
    if (m.data && m.data.buttons && m.data.buttons.length) {
      node.appendChild(el("span", "buttons", "选项：" + m.data.buttons.map(function (b) { return b.title; }).join(" / ")));
    }
    return node;
  }

  function appendLine(m) {
    var box = $("transcript");
    if (box.querySelector('[data-id="' + m.id + '"]')) return;
    box.appendChild(line(m)); box.scrollTop = box.scrollHeight;
  }

  function renderConversation(data) {
    current = data.conversation;
    Object.assign(guideTitles, data.guides || {});
    var c = current;
    $("chat-head").textContent = "会话 " + c.id.slice(0, 8) + " · " + STATES[c.state] + (c.clerk ? "（" + c.clerk + "）" : "") +
      (c.reason ? " · " + (REASONS[c.reason] || c.reason) : "");
    $("chat-head").classList.remove("muted");
    var box = $("transcript"); box.textContent = "";
    data.messages.forEach(appendLine);
    var dl = $("understood"); dl.textContent = "";
    var u = c.understood || {};
    [["办事事项", u.guide_item ? title(u.guide_item) : "—"], ["方面", u.aspect || "—"], ["意图", u.intent ? u.intent + "（" + u.confidence + "）" : "—"],
     ["候选", (u.candidates || []).map(title).join("、") || "—"], ["国家/站点", [c.country, c.site].filter(Boolean).join(" / ") || "—"]]
      .forEach(function (p) { dl.appendChild(el("dt", null, p[0])); dl.appendChild(el("dd", null, p[1])); });
    var hasGuide = Object.keys(data.guides || {}).length > 0;
    $("sample-notice").hidden = !hasGuide; $("sample-notice").textContent = data.sample_notice;
    var notes = $("notes"); notes.textContent = "";
    data.notes.forEach(addNote);
    updateActions();
  }

  function addNote(n) {
    var li = el("li", null, n.text); li.appendChild(el("small", null, n.author + " · " + new Date(n.at).toLocaleString("zh-CN")));
    $("notes").appendChild(li);
  }

  function updateActions() {
    var c = current, staff = me.role !== "trainer";
    var mine = c && c.state === "clerk" && c.claimed_by === me.id;
    $("claim").disabled = !(staff && c && !c.claimed_by && c.state !== "closed");
    $("claim").textContent = c && c.state === "bot" ? "接管" : "接入";
    $("handback").disabled = !mine; $("transfer").disabled = !mine; $("transfer-to").disabled = !mine;
    $("close").disabled = !(staff && c && c.state !== "closed" && (mine || !c.claimed_by));
    $("reply").disabled = !mine; $("send").disabled = !mine;
  }

  async function select(id) {
    selected = id; $("action-error").textContent = "";
    renderQueue(); renderLive();
    renderConversation(await api("GET", "/api/console/conversations/" + encodeURIComponent(id)));
  }

  async function act(name, body) {
    if (!current) return;
    $("action-error").textContent = "";
    try {
      await api("POST", "/api/console/conversations/" + encodeURIComponent(current.id) + "/" + name, body || {});
      await select(current.id);
    } catch (e) { $("action-error").textContent = e.message; if (e.status === 409) select(current.id); }
  }

  function beep() {
    if (!soundOn || !audio) return;
    var osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.15;
    osc.connect(gain); gain.connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.25);
  }

  function notifyWaiting(c) {
    beep();
    document.title = "【新排队】人工客服工作台";
    setTimeout(function () { document.title = "人工客服工作台 · 温州华侨服务"; }, 5000);
    var li = $("queue").querySelector('[data-id="' + c.id + '"]');
    if (li) li.classList.add("flash");
  }

  function connectSocket() {
    var socket = io("/console", { transports: ["websocket", "polling"] });
    socket.on("connect", function () { $("conn").textContent = "已连接"; $("conn").classList.add("ok"); refreshLists(); if (selected) select(selected); });
    socket.on("disconnect", function () { $("conn").textContent = "连接中断，重连中…"; $("conn").classList.remove("ok"); });
    socket.on("queue", function (d) { queue = d.queue; renderQueue(); });
    socket.on("waiting", function (d) { refreshLists().then(function () { notifyWaiting(d.conversation); }); });
    socket.on("conversation", function (d) {
      var c = d.conversation;
      var i = live.findIndex(function (x) { return x.id === c.id; });
      if (i >= 0) live[i] = Object.assign(live[i], c); else live.unshift(c);
      renderLive();
      if (selected === c.id) { current = Object.assign(current || {}, c); updateActions(); select(c.id); }
    });
    socket.on("message", function (d) {
      if (d.conversation_id === selected) appendLine(d.message);
      if (!live.some(function (x) { return x.id === d.conversation_id; })) refreshLists();
    });
    socket.on("note", function (d) { if (d.conversation_id === selected) addNote(d.note); });
    socket.on("presence", function (d) { renderOnline(d.clerks); fillTransfer(); });
    socket.on("transferred", function (d) { if (d.to === me.name) { beep(); refreshLists(); } });
    setInterval(function () { if (socket.connected) socket.emit("heartbeat", {}); }, 15000);
  }

  async function fillTransfer() {
    var data = await api("GET", "/api/console/clerks");
    var select = $("transfer-to"); var keep = select.value;
    select.textContent = ""; select.appendChild(el("option", null, "转接给…")).value = "";
    var online = {}; data.online.forEach(function (c) { online[c.id] = true; });
    data.staff.filter(function (u) { return u.id !== me.id; }).forEach(function (u) {
      var o = el("option", null, u.name + (online[u.id] ? "（在线）" : "（离线）")); o.value = u.name; select.appendChild(o);
    });
    select.value = keep;
  }

  function wire() {
    $("claim").addEventListener("click", function () { act("claim"); });
    $("handback").addEventListener("click", function () { act("handback"); });
    $("close").addEventListener("click", function () { if (confirm("确定结束这个会话吗？")) act("close"); });
    $("transfer").addEventListener("click", function () { if ($("transfer-to").value) act("transfer", { to: $("transfer-to").value }); });
    $("reply-form").addEventListener("submit", function (e) {
      e.preventDefault(); var text = $("reply").value.trim(); if (!text) return;
      $("reply").value = ""; act("reply", { text: text, sent_at: Date.now() });
    });
    $("reply").addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("reply-form").requestSubmit(); }
    });
    $("note-form").addEventListener("submit", async function (e) {
      e.preventDefault(); var text = $("note").value.trim(); if (!text || !current) return;
      try { await api("POST", "/api/console/conversations/" + encodeURIComponent(current.id) + "/note", { text: text }); $("note").value = ""; }
      catch (err) { $("action-error").textContent = err.message; }
    });
    $("case-form").addEventListener("submit", async function (e) {
      e.preventDefault(); var box = $("case"); box.textContent = "";
      try {
        var c = await api("GET", "/api/console/cases/" + encodeURIComponent($("case-no").value.trim()));
        box.appendChild(el("p", null, c.case_no + " · " + c.item + " · " + c.status + (c.site ? " · " + c.site : "")));
        var table = el("table");
        c.history.forEach(function (h) { var tr = el("tr"); [h.at, h.status, h.note || ""].forEach(function (v) { tr.appendChild(el("td", null, v)); }); table.appendChild(tr); });
        box.appendChild(table);
      } catch (err) { box.appendChild(el("p", "error", err.message)); }
    });
    $("sound").addEventListener("click", function () {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      soundOn = !soundOn; $("sound").textContent = soundOn ? "关闭提示音" : "开启提示音"; beep();
    });
    $("logout").addEventListener("click", async function () { await api("POST", "/api/logout"); location.href = "/login"; });
    setInterval(function () {
      document.querySelectorAll(".wait[data-since]").forEach(function (w) { w.textContent = waited(w.getAttribute("data-since")); });
    }, 1000);
  }

  async function changePassword() {
    var dialog = $("pw-dialog"); dialog.showModal();
    return new Promise(function (resolve) {
      $("pw-form").addEventListener("submit", async function (e) {
        e.preventDefault();
        try { await api("POST", "/api/console/password", { old: $("pw-old").value, new: $("pw-new").value }); dialog.close(); resolve(); }
        catch (err) { $("pw-error").textContent = err.message; }
      });
    });
  }

  async function start() {
    me = await api("GET", "/api/console/me");
    $("me").textContent = me.name + "（" + { clerk: "客服", trainer: "训练师", admin: "管理员" }[me.role] + "）";
    if (me.must_change) { await changePassword(); me = await api("GET", "/api/console/me"); }
    $("to-trainer").hidden = me.role === "clerk";
    wire(); connectSocket(); fillTransfer();
  }
  start();
})();
