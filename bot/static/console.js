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

  // What the bot understood, in words: the item's title and the aspect's name. The raw intent is the
  // trainers' business (their workbench shows it), not the clerks'.
  function understoodText(u) {
    if (!u) return "";
    var parts = [];
    if (u.guide_item) parts.push(title(u.guide_item));
    if (u.aspect) parts.push(aspect(u.aspect));
    return parts.join(" · ");
  }
  var guideTitles = {}, aspectLabels = {};
  function title(item) { return guideTitles[item] || item; }
  function aspect(key) { return aspectLabels[key] || key; }
  function place(c) { return [c.country, c.site].filter(Boolean).join(" / "); }

  // The conversation's language as a badge; green when it is one of mine besides Chinese.
  function langBadge(c) {
    var b = el("span", "lang" + (c.language ? "" : " unknown"), c.language ? (LANGS[c.language] || c.language) : "未知");
    b.setAttribute("data-lang", c.language || "");
    if (c.language && me.languages.indexOf(c.language) >= 0) b.classList.add("mine");
    return b;
  }

  function shown(c) { return !langFilter || c.language === langFilter; }

  // A list entry opens its conversation with a click, or Enter or Space when it has the keyboard focus.
  function pickable(li, id) {
    li.tabIndex = 0;
    li.addEventListener("click", function () { select(id); });
    li.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(id); } });
  }

  function renderQueue() {
    var list = $("queue"); list.textContent = "";
    var visible = queue.filter(shown);
    if ($("queue-count").textContent !== String(visible.length)) announce("排队中 " + visible.length + " 个会话");
    $("queue-count").textContent = String(visible.length);
    if (!visible.length) list.appendChild(el("li", "muted", "暂无排队"));
    visible.forEach(function (c) {
      var li = el("li"); li.setAttribute("data-id", c.number); li.setAttribute("data-lang", c.language || "");
      if (c.number === selected) li.classList.add("selected");
      var row = el("div", "row");
      var reason = el("span", "reason"); reason.appendChild(langBadge(c));
      reason.appendChild(document.createTextNode(REASONS[c.reason] || c.reason || "转人工"));
      row.appendChild(reason);
      var wait = el("span", "wait", waited(c.waiting_since)); wait.setAttribute("data-since", c.waiting_since || "");
      row.appendChild(wait); li.appendChild(row);
      var meta = [place(c), understoodText(c.understood)].filter(Boolean).join(" · ");
      if (meta) li.appendChild(el("div", "meta", meta));
      if (c.last_citizen_text) li.appendChild(el("div", "last", c.last_citizen_text));
      pickable(li, c.number);
      list.appendChild(li);
    });
  }

  function renderLive() {
    var list = $("live"); list.textContent = "";
    live.filter(function (c) { return c.state !== "waiting" && shown(c); }).forEach(function (c) {
      var li = el("li"); li.setAttribute("data-id", c.number); li.setAttribute("data-lang", c.language || "");
      if (c.number === selected) li.classList.add("selected");
      var row = el("div", "row");
      var what = el("span"); what.appendChild(langBadge(c));
      what.appendChild(document.createTextNode(STATES[c.state] + (c.clerk ? " · " + c.clerk : "")));
      row.appendChild(what);
      row.appendChild(el("span", "muted", "#" + c.number));
      li.appendChild(row);
      var meta = [place(c), understoodText(c.understood)].filter(Boolean).join(" · ");
      if (meta) li.appendChild(el("div", "meta", meta));
      if (c.last_citizen_text) li.appendChild(el("div", "last", c.last_citizen_text));
      pickable(li, c.number);
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
    // A photo (thumbnail) or a PDF (link), opening the full file.
    var file = m.data && m.data.attachment;
    if (file && file.id) {
      var a = el("a", "file"); a.href = "/api/console/attachments/" + file.id; a.target = "_blank"; a.rel = "noopener";
      if (file.thumb) { var img = el("img"); img.src = a.href + "?thumb=1"; img.alt = file.name; a.appendChild(img); }
      else a.textContent = "打开文件：" + file.name;
      a.appendChild(el("small", null, file.name + " · " + Math.ceil(file.size / 1024) + " KB"));
      node.appendChild(a);
    }
    // A message left while waiting, with a contact: a ticket a clerk answers when they can.
    if (m.data && m.data.contact) node.appendChild(el("span", "contact", "留言 · 联系方式：" + m.data.contact));
    var custom = (m.data && m.data.custom) || {};
    if (custom.guide_item) node.appendChild(el("span", "guide", "指南：" + title(custom.guide_item) + (custom.aspect ? " · " + aspect(custom.aspect) : "") + "（示例内容）"));
    if (m.data && m.data.buttons && m.data.buttons.length) {
      node.appendChild(el("span", "buttons", "选项：" + m.data.buttons.map(function (b) { return b.title; }).join(" / ")));
    }
    return node;
  }

  // New lines scroll into view, unless the clerk has scrolled up to read: then a marker says there are some.
  function atBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }

  function toBottom() { var box = $("transcript"); box.scrollTop = box.scrollHeight; $("new-marker").hidden = true; }

  // The case panel fills itself once the bot has shown a case's status, i.e. after the citizen gave the
  // case number and the proof of ownership: the clerk sees the same case without typing its number.
  var CASE_NO = /WZ\d{8,}/i, lastCaseNo = null, shownCase = null;
  function followCase(m) {
    if (m.sender === "citizen") { var found = CASE_NO.exec(m.text || ""); if (found) lastCaseNo = found[0].toUpperCase(); return; }
    var custom = (m.data && m.data.custom) || {};
    if (m.sender === "bot" && custom["case"] && lastCaseNo && shownCase !== lastCaseNo) {
      shownCase = lastCaseNo; $("case-no").value = lastCaseNo; $("case-form").requestSubmit();
    }
  }

  function appendLine(m, live) {
    var box = $("transcript");
    if (box.querySelector('[data-id="' + m.id + '"]')) return;
    followCase(m);
    var follow = !live || atBottom(box);
    box.appendChild(line(m));
    if (follow) toBottom(); else $("new-marker").hidden = false;
  }

  function announce(text) { $("announce").textContent = ""; setTimeout(function () { $("announce").textContent = text; }, 50); }

  // The lists' previews and states follow the conversation live (a new line, a new state).
  function preview(number, m) {
    if (m.sender !== "citizen") return;
    [queue, live].forEach(function (list) {
      list.forEach(function (c) { if (c.number === number) { c.last_citizen_text = m.text; } });
    });
    renderQueue(); renderLive();
  }

  function renderConversation(data) {
    current = data.conversation;
    Object.assign(guideTitles, data.guides || {});
    var c = current;
    $("chat-head").textContent = "会话 #" + c.number + " · " + STATES[c.state] + (c.clerk ? "（" + c.clerk + "）" : "") +
      (c.reason ? " · " + (REASONS[c.reason] || c.reason) : "");
    $("chat-head").insertBefore(langBadge(c), $("chat-head").firstChild);
    $("chat-head").classList.remove("muted");
    var box = $("transcript"); box.textContent = "";
    if (!current || shownFor !== c.number) { lastCaseNo = null; shownCase = null; $("case").textContent = ""; $("case-no").value = ""; shownFor = c.number; }
    data.messages.forEach(function (m) { appendLine(m); });
    toBottom();
    var dl = $("understood"); dl.textContent = "";
    var u = c.understood || {};
    [["办事事项", u.guide_item ? title(u.guide_item) : "—"], ["方面", u.aspect ? aspect(u.aspect) : "—"],
     ["候选", (u.candidates || []).map(title).join("、") || "—"], ["国家/站点", place(c) || "—"]]
      .forEach(function (p) { dl.appendChild(el("dt", null, p[0])); dl.appendChild(el("dd", null, p[1])); });
    var hasGuide = Object.keys(data.guides || {}).length > 0;
    $("sample-notice").hidden = !hasGuide; $("sample-notice").textContent = data.sample_notice;
    var notes = $("notes"); notes.textContent = "";
    data.notes.forEach(addNote);
    $("late-replies").textContent = ""; $("late-section").hidden = true;
    (data.late_replies || []).forEach(addLateReply);
    updateActions();
    loadSuggestions();
    loadBookings(c.number);
  }

  /* The conversation's appointments (issue 14), for clerks and admins. */
  async function loadBookings(number) {
    var staff = me.role !== "trainer"; $("bookings-section").hidden = !staff; $("to-bookings").hidden = !staff;
    if (!staff) return;
    var list = $("conv-bookings"); list.textContent = "";
    var data = await api("GET", "/api/console/conversations/" + number + "/bookings").catch(function () { return { bookings: [] }; });
    if (number !== selected && selected !== null) return;
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

  // The bot's answer to a line that came only after a clerk took the conversation (issue 10, item 4):
  // never sent to the citizen; shown here for the clerk to insert into a reply, or to ignore.
  function addLateReply(late) {
    var list = $("late-replies");
    if (list.querySelector('[data-line="' + late.line_id + '"]')) return;
    var li = el("li"); li.setAttribute("data-line", late.line_id);
    li.appendChild(el("small", null, "群众：" + late.asked));
    var text = late.replies.map(function (r) { return r.text + (r.buttons.length ? "\n（" + r.buttons.join(" / ") + "）" : ""); }).join("\n");
    li.appendChild(el("span", "late-text", text));
    var b = el("button", "insert", "插入回复框"); b.type = "button";
    b.addEventListener("click", function () { insertReply(late.replies.map(function (r) { return r.text; }).join("\n")); });
    li.appendChild(b);
    list.appendChild(li); $("late-section").hidden = false;
  }

  function updateActions() {
    var c = current, staff = me.role !== "trainer";
    var mine = c && c.state === "clerk" && c.claimed_by === me.id;
    $("claim").disabled = !(staff && c && !c.claimed_by && c.state !== "closed");
    $("claim").textContent = c && c.state === "bot" ? "接管" : "接入";
    $("handback").disabled = !mine; $("transfer").disabled = !mine; $("transfer-to").disabled = !mine;
    $("close").disabled = !(staff && c && c.state !== "closed" && (mine || !c.claimed_by));
    $("reply").disabled = !mine; $("send").disabled = !mine; $("attach").disabled = !mine;
  }

  // Suggestions while writing: the bot's top three items for the citizen's last message; each section
  // (materials, fees…) is inserted into the reply box at the cursor, for the clerk to edit before sending.
  var suggestTimer = null, shownFor = null, shownSuggestions = null;
  function loadSuggestions() {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(async function () {
      if (!current) return;
      var number = current.number, box = $("suggestions");
      var data = await api("GET", "/api/console/conversations/" + number + "/suggestions").catch(function () { return null; });
      if (!data || !current || current.number !== number) return;
      // Unchanged suggestions are left as they are: a section the clerk opened stays open.
      var key = number + JSON.stringify(data.items);
      if (key === shownSuggestions) return;
      shownSuggestions = key;
      box.textContent = "";
      if (!data.items.length) { box.appendChild(el("p", "muted", "暂无建议")); return; }
      data.items.forEach(function (item) {
        var details = el("details", "suggestion"); details.setAttribute("data-item", item.item);
        details.appendChild(el("summary", null, item.title));
        item.sections.forEach(function (section) {
          var b = el("button", "insert", "插入" + section.label); b.type = "button"; b.setAttribute("data-aspect", section.aspect);
          b.addEventListener("click", function () { insertReply(section.text); });
          details.appendChild(b);
        });
        box.appendChild(details);
      });
    }, 200);
  }

  function insertReply(text) {
    var box = $("reply");
    var start = box.selectionStart || 0, end = box.selectionEnd || 0;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus(); box.selectionStart = box.selectionEnd = start + text.length;
  }

  // Canned replies: "/" plus a search at the start of the reply box lists the shared and personal ones
  // in the conversation's language; arrows pick, Enter or a click inserts, Esc closes.
  var cannedItems = [], cannedIndex = 0, cannedTimer = null;
  function cannedQuery() { var v = $("reply").value; return /^\/[^\n]*$/.test(v) ? v.slice(1) : null; }

  function closeCanned() { $("canned-list").hidden = true; $("reply").removeAttribute("aria-activedescendant"); cannedItems = []; }

  function showCanned() {
    var q = cannedQuery();
    if (q === null || !current) return closeCanned();
    clearTimeout(cannedTimer);
    cannedTimer = setTimeout(async function () {
      var params = new URLSearchParams({ q: q, language: current.language || me.default_language });
      var data = await api("GET", "/api/console/canned?" + params.toString()).catch(function () { return { canned: [] }; });
      if (cannedQuery() === null) return;
      cannedItems = data.canned; cannedIndex = 0; drawCanned();
    }, 120);
  }

  function drawCanned() {
    var list = $("canned-list"); list.textContent = "";
    if (!cannedItems.length) { list.appendChild(el("li", "muted", "没有匹配的常用回复")); list.hidden = false; return; }
    cannedItems.forEach(function (c, i) {
      var li = el("li", null, c.title + (c.shared ? "（共享）" : "（我的）"));
      li.id = "canned-" + c.id; li.setAttribute("role", "option"); li.setAttribute("aria-selected", i === cannedIndex ? "true" : "false");
      li.appendChild(el("small", null, c.text));
      li.addEventListener("mousedown", function (e) { e.preventDefault(); useCanned(i); });
      list.appendChild(li);
    });
    list.hidden = false;
    $("reply").setAttribute("aria-activedescendant", "canned-" + cannedItems[cannedIndex].id);
  }

  function useCanned(i) {
    var c = cannedItems[i]; if (!c) return;
    $("reply").value = c.text; closeCanned(); $("reply").focus();
  }

  async function openCannedDialog() {
    var langSelect = $("canned-language");
    if (!langSelect.options.length) {
      me.supported_languages.forEach(function (l) { var o = el("option", null, l.name); o.value = l.code; o.lang = l.code; langSelect.appendChild(o); });
    }
    langSelect.value = (current && current.language) || me.default_language;
    $("canned-shared-box").hidden = me.role !== "admin";
    await drawCannedTable();
    $("canned-dialog").showModal();
  }

  async function drawCannedTable() {
    var data = await api("GET", "/api/console/canned");
    var table = $("canned-table"); table.textContent = "";
    data.canned.forEach(function (c) {
      var tr = el("tr"); tr.setAttribute("data-id", c.id);
      tr.appendChild(el("td", null, LANGS[c.language] || c.language));
      tr.appendChild(el("td", null, c.title + (c.shared ? "（共享）" : "（我的）")));
      tr.appendChild(el("td", null, c.text));
      var td = el("td");
      if (!c.shared || me.role === "admin") {
        var del = el("button", null, "删除"); del.type = "button"; del.setAttribute("aria-label", "删除 " + c.title);
        del.addEventListener("click", async function () {
          try { await api("POST", "/api/console/canned/" + c.id + "/delete"); drawCannedTable(); }
          catch (err) { $("canned-error").textContent = err.message; }
        });
        td.appendChild(del);
      }
      tr.appendChild(td); table.appendChild(tr);
    });
  }

  async function select(number) {
    selected = number; $("action-error").textContent = "";
    renderQueue(); renderLive();
    renderConversation(await api("GET", "/api/console/conversations/" + number));
  }

  async function act(name, body) {
    if (!current) return;
    $("action-error").textContent = "";
    try {
      await api("POST", "/api/console/conversations/" + current.number + "/" + name, body || {});
      await select(current.number);
    } catch (e) { $("action-error").textContent = e.message; if (e.status === 409) select(current.number); }
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
    if (alerted[c.number + c.waiting_since] || offerTimers[c.number]) return;
    var wait = offerDelay(c);
    offerTimers[c.number] = setTimeout(function () {
      delete offerTimers[c.number];
      refreshLists().then(function () {
        if (!queue.some(function (x) { return x.number === c.number; })) return;
        alerted[c.number + c.waiting_since] = true;
        notifyWaiting(c);
      });
    }, wait);
  }

  function notifyWaiting(c) {
    beep();
    document.title = "【新排队】人工客服工作台";
    setTimeout(function () { document.title = "人工客服工作台 · 温州华侨服务"; }, 5000);
    var li = $("queue").querySelector('[data-id="' + c.number + '"]');
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
      var i = live.findIndex(function (x) { return x.number === c.number; });
      var before = i >= 0 ? live[i].state : null;
      if (i >= 0) live[i] = Object.assign(live[i], c); else live.unshift(c);
      renderLive();
      if (selected === c.number && before && before !== c.state) announce("会话状态：" + STATES[c.state] + (c.clerk ? "（" + c.clerk + "）" : ""));
      if (selected === c.number) { current = Object.assign(current || {}, c); updateActions(); select(c.number); }
    });
    socket.on("message", function (d) {
      if (d.conversation === selected) { appendLine(d.message, true); if (d.message.sender === "citizen") loadSuggestions(); }
      if (!live.some(function (x) { return x.number === d.conversation; })) refreshLists(); else preview(d.conversation, d.message);
    });
    // A left message opened or answered, a ticket marked: the header's count of open ones.
    socket.on("ticket", ticketCount);
    socket.on("note", function (d) { if (d.conversation === selected) addNote(d.note); });
    socket.on("late_reply", function (d) { if (d.conversation === selected) { addLateReply(d.late_reply); announce("机器人迟到的回复已到，未发给群众"); } });
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
      if (!$("canned-list").hidden && cannedItems.length) {
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault(); cannedIndex = (cannedIndex + (e.key === "ArrowDown" ? 1 : cannedItems.length - 1)) % cannedItems.length; drawCanned(); return;
        }
        if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); useCanned(cannedIndex); return; }
      }
      if (e.key === "Escape" && !$("canned-list").hidden) { e.preventDefault(); closeCanned(); return; }
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("reply-form").requestSubmit(); }
    });
    $("reply").addEventListener("input", showCanned);
    $("reply").addEventListener("blur", function () { setTimeout(closeCanned, 150); });
    $("canned-open").addEventListener("click", openCannedDialog);
    $("attach").addEventListener("click", function () { $("attach-file").click(); });
    $("attach-file").addEventListener("change", async function () {
      var file = $("attach-file").files[0]; $("attach-file").value = "";
      if (!file || !current) return;
      $("action-error").textContent = "";
      var reply = await fetch("/api/console/conversations/" + current.number + "/attachments", {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", "X-File-Name": encodeURIComponent(file.name), "X-CSRF-Token": me.csrf }
      });
      var data = await reply.json().catch(function () { return {}; });
      if (!reply.ok) $("action-error").textContent = data.error || "发送失败";
    });
    $("canned-close").addEventListener("click", function () { $("canned-dialog").close(); });
    $("canned-form").addEventListener("submit", async function (e) {
      e.preventDefault(); $("canned-error").textContent = "";
      try {
        await api("POST", "/api/console/canned", {
          language: $("canned-language").value, title: $("canned-title-input").value, text: $("canned-text").value,
          shared: $("canned-shared").checked
        });
        $("canned-title-input").value = ""; $("canned-text").value = ""; drawCannedTable();
      } catch (err) { $("canned-error").textContent = err.message; }
    });
    $("note-form").addEventListener("submit", async function (e) {
      e.preventDefault(); var text = $("note").value.trim(); if (!text || !current) return;
      try { await api("POST", "/api/console/conversations/" + current.number + "/note", { text: text }); $("note").value = ""; }
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
    $("new-marker").addEventListener("click", toBottom);
    $("transcript").addEventListener("scroll", function () { if (atBottom($("transcript"))) $("new-marker").hidden = true; });
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
    Object.assign(guideTitles, me.guide_titles || {}); Object.assign(aspectLabels, me.aspect_labels || {});
    wire(); connectSocket(); fillTransfer(); ticketCount();
    // /console?open=<number>: the 留言 page's link to the conversation of a left message.
    var wanted = new URLSearchParams(location.search).get("open");
    if (wanted && /^\d+$/.test(wanted)) select(Number(wanted));
  }

  async function ticketCount() {
    try { $("ticket-count").textContent = (await api("GET", "/api/console/tickets?only=counts")).counts.open; }
    catch (e) { /* the count waits for the next event */ }
  }
  start();
})();
