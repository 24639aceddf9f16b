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
  // Language codes -> names (knowledge/languages.yml, from /me), the list filter, alerts already given.
  var LANGS = {}, langFilter = "", alerted = {}, offerTimers = {};

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

  // The conversation's language as a badge; green when it is one of mine besides Chinese.
  function langBadge(c) {
    var b = el("span", "lang" + (c.language ? "" : " unknown"), c.language ? (LANGS[c.language] || c.language) : "未知");
    b.setAttribute("data-lang", c.language || "");
    if (c.language && me.languages.indexOf(c.language) >= 0) b.classList.add("mine");
    return b;
  }

  function shown(c) { return !langFilter || c.language === langFilter; }

  function renderQueue() {
    var list = $("queue"); list.textContent = "";
    var visible = queue.filter(shown);
    $("queue-count").textContent = String(visible.length);
    if (!visible.length) list.appendChild(el("li", "muted", "暂无排队"));
    visible.forEach(function (c) {
      var li = el("li"); li.setAttribute("data-id", c.id); li.setAttribute("data-lang", c.language || "");
      if (c.id === selected) li.classList.add("selected");
      var row = el("div", "row");
      var reason = el("span", "reason"); reason.appendChild(langBadge(c));
      reason.appendChild(document.createTextNode(REASONS[c.reason] || c.reason || "转人工"));
      row.appendChild(reason);
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
    live.filter(function (c) { return c.state !== "waiting" && shown(c); }).forEach(function (c) {
      var li = el("li"); li.setAttribute("data-id", c.id); li.setAttribute("data-lang", c.language || "");
      if (c.id === selected) li.classList.add("selected");
      var row = el("div", "row");
      var what = el("span"); what.appendChild(langBadge(c));
      what.appendChild(document.createTextNode(STATES[c.state] + (c.clerk ? " · " + c.clerk : "")));
      row.appendChild(what);
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
    var text = el("span", "text", m.text);
    var written = (m.data && (m.data.language || (m.data.custom && m.data.custom.language))) || "";
    if (written) text.lang = written;
    node.appendChild(text);
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
    $("chat-head").insertBefore(langBadge(c), $("chat-head").firstChild);
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
    loadBookings(c.id);
  }

  /* The conversation's appointments (issue 14), for clerks and admins. */
  async function loadBookings(id) {
    var staff = me.role !== "trainer"; $("bookings-section").hidden = !staff; $("to-bookings").hidden = !staff;
    if (!staff) return;
    var list = $("conv-bookings"); list.textContent = "";
    var data = await api("GET", "/api/console/conversations/" + encodeURIComponent(id) + "/bookings").catch(function () { return { bookings: [] }; });
    if (id !== selected && selected !== null) return;
    data.bookings.forEach(function (b) {
      var li = el("li", null, b.code + " · " + b.place_name + " · " + b.local_time + " · " + (b.mode === "video" ? "视频" : "到场") + " · " + b.status);
      li.appendChild(el("small", null, b.item_title));
      list.appendChild(li);
    });
    if (!data.bookings.length) list.appendChild(el("li", "muted", "没有预约"));
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

  // A waiting conversation is offered first to the clerks online who speak its language (bot/desk/offers.py):
  // they are alerted at once, the others at `open_at`, if it is still waiting then.
  function offerDelay(c) {
    if (!c.open_at || (c.first_for || []).indexOf(me.id) >= 0) return 0;
    return Math.max(0, Date.parse(c.open_at) - Date.now());
  }

  function offer(c) {
    if (alerted[c.id + c.waiting_since] || offerTimers[c.id]) return;
    var wait = offerDelay(c);
    offerTimers[c.id] = setTimeout(function () {
      delete offerTimers[c.id];
      refreshLists().then(function () {
        if (!queue.some(function (x) { return x.id === c.id; })) return;
        alerted[c.id + c.waiting_since] = true;
        notifyWaiting(c);
      });
    }, wait);
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
    socket.on("disconnect", function (reason) {
      // The desk ended the socket: logged out (here or in another tab) or the password changed.
      if (reason === "io server disconnect") { location.href = "/login"; return; }
      $("conn").textContent = "连接中断，重连中…"; $("conn").classList.remove("ok");
    });
    // The queue as this clerk sees it comes from the API (offered to me, my languages first).
    socket.on("queue", function (d) { refreshLists(); d.queue.forEach(function (c) { if (offerDelay(c) > 0) offer(c); }); });
    socket.on("waiting", function (d) { offer(d.conversation); });
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
    socket.on("presence", function (d) { renderOnline(d.clerks); fillTransfer(); refreshLists(); });
    socket.on("transferred", function (d) { if (d.to === me.name) { beep(); refreshLists(); } });
    setInterval(function () { if (socket.connected) socket.emit("heartbeat", {}); }, 15000);
  }

  async function fillTransfer() {
    var data = await api("GET", "/api/console/clerks");
    var select = $("transfer-to"); var keep = select.value;
    select.textContent = ""; select.appendChild(el("option", null, "转接给…")).value = "";
    var online = {}; data.online.forEach(function (c) { online[c.id] = true; });
    data.staff.filter(function (u) { return u.id !== me.id; }).forEach(function (u) {
      var spoken = (u.languages || []).map(function (code) { return LANGS[code] || code; }).join("、");
      var o = el("option", null, u.name + (spoken ? "（" + spoken + "）" : "") + (online[u.id] ? "（在线）" : "（离线）"));
      o.value = u.name; select.appendChild(o);
    });
    select.value = keep;
  }

  // The admin's page for the languages each member of staff speaks besides Chinese.
  async function openLanguages() {
    var data = await api("GET", "/api/console/clerks");
    var table = $("languages-table"); table.textContent = ""; $("languages-error").textContent = "";
    var others = me.supported_languages.filter(function (l) { return l.code !== me.default_language; });
    data.staff.forEach(function (u) {
      var tr = el("tr"); tr.setAttribute("data-user", u.name); tr.appendChild(el("td", null, u.name));
      others.forEach(function (l) {
        var td = el("td"), label = el("label"), box = el("input");
        box.type = "checkbox"; box.value = l.code; box.checked = (u.languages || []).indexOf(l.code) >= 0;
        box.addEventListener("change", async function () {
          var codes = Array.prototype.filter.call(tr.querySelectorAll("input"), function (b) { return b.checked; })
            .map(function (b) { return b.value; });
          try { await api("POST", "/api/console/users/" + u.id + "/languages", { languages: codes }); fillTransfer(); }
          catch (err) { $("languages-error").textContent = err.message; box.checked = !box.checked; }
        });
        label.appendChild(box); label.appendChild(document.createTextNode(" " + l.name)); label.lang = l.code;
        td.appendChild(label); tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    $("languages-dialog").showModal();
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
    $("lang-filter").addEventListener("change", function () { langFilter = $("lang-filter").value; renderQueue(); renderLive(); });
    $("languages-open").addEventListener("click", openLanguages);
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
    $("to-bookings").hidden = me.role === "trainer";
    $("languages-open").hidden = me.role !== "admin";
    me.supported_languages.forEach(function (l) {
      LANGS[l.code] = l.name;
      var o = el("option", null, l.name); o.value = l.code; o.lang = l.code; $("lang-filter").appendChild(o);
    });
    wire(); connectSocket(); fillTransfer();
  }
  start();
})();
