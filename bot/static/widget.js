/* 温州华侨服务 chat widget: one <script src=".../widget.js"> on any page.
 * Speaks the rasa-webchat socket.io protocol with the desk. Text is only ever
 * put in the page as text nodes (never innerHTML), so nothing a citizen, the
 * bot or a clerk writes can inject markup.
 * Its own strings and its languages come from the desk (/api/widget/strings, the
 * catalog knowledge/messages/<code>.yml `widget.*`): a new language is data only.
 */
(function () {
  "use strict";
  if (window.WenzhouDesk) return;

  var script = document.currentScript;
  var BASE = new URL(script ? script.src : "/widget.js", location.href).origin;
  var KEY = "wzdesk:" + BASE;
  var store = {
    get: function (name, fallback) {
      try { var v = localStorage.getItem(KEY + ":" + name); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; }
    },
    set: function (name, value) { try { localStorage.setItem(KEY + ":" + name, JSON.stringify(value)); } catch (e) { /* private mode */ } }
  };

  var CSS = [
    ".wzd-launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;background:#c8102e;color:#fff;border:0;border-radius:28px;padding:14px 20px;font-size:16px;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}",
    ".wzd-panel{position:fixed;right:16px;bottom:16px;z-index:2147483001;width:380px;height:600px;max-height:calc(100vh - 32px);background:#f5f6f8;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:none;flex-direction:column;overflow:hidden;font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;font-size:15px;color:#222}",
    ".wzd-panel.open{display:flex}",
    "@media (max-width:600px){.wzd-panel{right:0;bottom:0;width:100vw;height:100%;max-height:100%;border-radius:0}}",
    ".wzd-head{background:#c8102e;color:#fff;padding:10px 12px;display:flex;align-items:center;gap:8px}",
    ".wzd-title{flex:1;min-width:0}.wzd-title b{display:block;font-size:16px}.wzd-status{font-size:12px;opacity:.9}",
    ".wzd-head button{background:rgba(255,255,255,.18);color:#fff;border:1px solid rgba(255,255,255,.5);border-radius:14px;padding:5px 10px;font-size:13px;cursor:pointer}",
    ".wzd-head .wzd-human{background:#fff;color:#c8102e;font-weight:bold}",
    ".wzd-head select{background:rgba(255,255,255,.18);color:#fff;border:1px solid rgba(255,255,255,.5);border-radius:14px;padding:4px 6px;font-size:13px}",
    ".wzd-head select option{color:#222}",
    ".wzd-banner{display:none;background:#fff3cd;color:#7a5b00;padding:6px 12px;font-size:13px}",
    ".wzd-banner.show{display:block}",
    ".wzd-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".wzd-msg{max-width:82%;padding:9px 12px;border-radius:12px;line-height:1.55;white-space:pre-wrap;word-break:break-word}",
    ".wzd-msg a{color:inherit;text-decoration:underline}",
    ".wzd-msg[data-sender=citizen]{align-self:flex-end;background:#c8102e;color:#fff;border-bottom-right-radius:3px}",
    ".wzd-msg[data-sender=citizen].pending{opacity:.6}",
    ".wzd-msg[data-sender=bot],.wzd-msg[data-sender=clerk]{align-self:flex-start;background:#fff;border-bottom-left-radius:3px;box-shadow:0 1px 2px rgba(0,0,0,.08)}",
    ".wzd-msg[data-sender=clerk]{border-left:3px solid #1a73e8}",
    ".wzd-who{display:block;font-size:12px;color:#1a73e8;margin-bottom:2px}",
    ".wzd-msg[data-sender=system]{align-self:center;background:#e4e7ec;color:#555;font-size:13px;max-width:92%;text-align:center}",
    ".wzd-qrs{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start;max-width:92%}",
    ".wzd-qr{background:#fff;color:#c8102e;border:1px solid #c8102e;border-radius:16px;padding:6px 12px;font-size:14px;cursor:pointer}",
    ".wzd-qr:disabled{opacity:.45;cursor:default}",
    ".wzd-typing{align-self:flex-start;display:none;background:#fff;border-radius:12px;padding:10px 14px}",
    ".wzd-typing.show{display:block}",
    ".wzd-typing i{display:inline-block;width:7px;height:7px;margin:0 2px;border-radius:50%;background:#999;animation:wzd-blink 1.2s infinite}",
    ".wzd-typing i:nth-child(2){animation-delay:.2s}.wzd-typing i:nth-child(3){animation-delay:.4s}",
    "@keyframes wzd-blink{0%,80%,100%{opacity:.2}40%{opacity:1}}",
    ".wzd-form{display:flex;gap:8px;padding:10px;background:#fff;border-top:1px solid #e3e3e3}",
    ".wzd-input{flex:1;min-width:0;border:1px solid #ccc;border-radius:18px;padding:9px 14px;font-size:16px;resize:none;font-family:inherit}",
    ".wzd-send{background:#c8102e;color:#fff;border:0;border-radius:18px;padding:0 18px;font-size:16px;cursor:pointer}",
    ".wzd-panel.large{font-size:20px}.wzd-panel.large .wzd-input,.wzd-panel.large .wzd-send,.wzd-panel.large .wzd-qr{font-size:20px}",
    ".wzd-panel.large .wzd-msg[data-sender=system]{font-size:17px}"
  ].join("\n");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // URLs and phone-number shapes become links; everything else stays a text node. Only phone shapes
  // (issue 10): "+" and a country code, a Chinese mobile (1[3-9] and 9 digits), a landline with its
  // area code and a dash (0577-8888 8888), 400/800 numbers; never a bare run of digits (case numbers,
  // dates, tracking and passport numbers), and no phone links at all in a case-status reply.
  var LINK = /(https?:\/\/[^\s<>"'，。；！？、）)]+)|((?:\+\d{1,3}[\s-]?\d[\d\s-]{5,}\d|\b(?:1[3-9]\d{9}|0\d{2,3}-\d{3,4}[\s-]?\d{4}|[48]00-\d{3}-\d{4})\b))/g;
  function fillText(node, text, noPhones) {
    var last = 0, match;
    LINK.lastIndex = 0;
    while ((match = LINK.exec(text)) !== null) {
      var digits = match[2] ? match[2].replace(/[\s-]/g, "") : "";
      if (match[2] && (noPhones || digits.replace("+", "").length < 7 || digits.length > 16)) continue;
      if (match[2] && match.index > 0 && /[\dA-Za-z]/.test(text.charAt(match.index - 1))) continue;
      if (match.index > last) node.appendChild(document.createTextNode(text.slice(last, match.index)));
      var a = document.createElement("a");
      a.textContent = match[0];
      if (match[1]) { a.href = match[1]; a.target = "_blank"; a.rel = "noopener noreferrer"; }
      else { a.href = "tel:" + digits; }
      node.appendChild(a);
      last = match.index + match[0].length;
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return (Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2)).slice(0, 32);
  }

  var ui = {}, socket = null, sessionId = store.get("session", null), lastId = 0;
  // The widget's strings and languages (from the desk), the language shown, and whether the citizen picked it.
  var I18N = null, lang = null, picked = store.get("lang_picked", false), state = { kind: "bot", clerk: null };

  function t(key, values) {
    var text = (I18N.strings[lang] || {})[key] || (I18N.strings[I18N["default"]] || {})[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }

  function supported(code) {
    if (!code) return null;
    var short = String(code).replace("_", "-").split("-")[0].toLowerCase();
    return I18N.languages.some(function (l) { return l.code === short; }) ? short : null;
  }

  // The citizen's pick, remembered across reloads; else the browser's locale; else the default language.
  function initialLanguage() {
    var chosen = picked ? supported(store.get("lang", null)) : null;
    if (chosen) return chosen;
    picked = false;
    var locales = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
    for (var i = 0; i < locales.length; i++) { var code = supported(locales[i]); if (code) return code; }
    return I18N["default"];
  }
  var pending = store.get("pending", []); // sent but not yet acknowledged as stored: re-sent after a reconnect
  var seenIds = {}, byClient = {}, typingTimer = null;

  function build() {
    var style = el("style"); style.textContent = CSS; document.head.appendChild(style);
    ui.launcher = el("button", "wzd-launcher");
    ui.launcher.type = "button";
    ui.panel = el("section", "wzd-panel");
    var head = el("div", "wzd-head"), title = el("div", "wzd-title");
    ui.title = el("b"); title.appendChild(ui.title);
    ui.status = el("span", "wzd-status"); title.appendChild(ui.status);
    // The language switcher: each option named in its own language, with its own lang attribute.
    ui.lang = el("select", "wzd-lang");
    I18N.languages.forEach(function (l) { var o = el("option", null, l.name); o.value = l.code; o.lang = l.code; ui.lang.appendChild(o); });
    ui.large = el("button", "wzd-large"); ui.large.type = "button"; ui.large.setAttribute("aria-pressed", "false");
    ui.human = el("button", "wzd-human"); ui.human.type = "button";
    ui.close = el("button", "wzd-close", "✕"); ui.close.type = "button";
    head.appendChild(title); head.appendChild(ui.lang); head.appendChild(ui.large); head.appendChild(ui.human); head.appendChild(ui.close);
    ui.banner = el("div", "wzd-banner");
    ui.log = el("div", "wzd-log"); ui.log.setAttribute("role", "log"); ui.log.setAttribute("aria-live", "polite");
    ui.typing = el("div", "wzd-typing");
    ui.typing.appendChild(el("i")); ui.typing.appendChild(el("i")); ui.typing.appendChild(el("i"));
    var form = el("form", "wzd-form");
    ui.input = el("textarea", "wzd-input"); ui.input.rows = 1;
    ui.send = el("button", "wzd-send"); ui.send.type = "submit";
    form.appendChild(ui.input); form.appendChild(ui.send);
    ui.panel.appendChild(head); ui.panel.appendChild(ui.banner); ui.panel.appendChild(ui.log); ui.panel.appendChild(form);
    ui.log.appendChild(ui.typing);
    document.body.appendChild(ui.launcher); document.body.appendChild(ui.panel);

    ui.launcher.addEventListener("click", open);
    ui.close.addEventListener("click", function () { ui.panel.classList.remove("open"); ui.launcher.style.display = ""; store.set("open", false); });
    ui.large.addEventListener("click", function () { setLarge(!ui.panel.classList.contains("large")); });
    ui.human.addEventListener("click", function () { send("/request_human", t("human")); });
    ui.lang.addEventListener("change", function () {
      picked = true; store.set("lang_picked", true); store.set("lang", ui.lang.value); setLanguage(ui.lang.value);
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); submit(); }
    });
    setLarge(store.get("large", false));
    setLanguage(lang);
  }

  // Draws the widget's own strings in `code`; the messages keep the language they were written in.
  function setLanguage(code) {
    lang = code;
    ui.panel.lang = code; ui.launcher.lang = code; ui.lang.value = code;
    ui.launcher.textContent = t("launcher"); ui.launcher.setAttribute("aria-label", t("open"));
    ui.panel.setAttribute("aria-label", t("panel"));
    ui.title.textContent = t("title");
    ui.lang.setAttribute("aria-label", t("language")); ui.lang.title = t("language");
    ui.large.textContent = t("large"); ui.human.textContent = t("human");
    ui.close.setAttribute("aria-label", t("close"));
    ui.banner.textContent = t("offline"); ui.typing.setAttribute("aria-label", t("typing"));
    ui.input.placeholder = t("placeholder"); ui.send.textContent = t("send");
    showState();
  }

  function showState() {
    ui.status.textContent = state.kind === "clerk" ? t("status.clerk", { name: state.clerk || "" })
      : state.kind === "queued" ? t("status.queued") : t("status.bot");
  }

  function setState(kind, clerk) { state = { kind: kind, clerk: clerk || null }; showState(); }

  function setLarge(on) {
    ui.panel.classList.toggle("large", on); ui.large.setAttribute("aria-pressed", on ? "true" : "false"); store.set("large", on);
  }

  function open() {
    ui.panel.classList.add("open"); ui.launcher.style.display = "none"; store.set("open", true);
    connect(); ui.input.focus();
  }

  function submit() {
    var text = ui.input.value.trim();
    if (!text) return;
    ui.input.value = "";
    send(text, null);
  }

  function scroll() { ui.log.scrollTop = ui.log.scrollHeight; }

  function showTyping(on) {
    ui.typing.classList.toggle("show", on);
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { ui.typing.classList.remove("show"); }, 8000);
    ui.log.appendChild(ui.typing); scroll();
  }

  function disableQuickReplies() {
    var old = ui.log.querySelectorAll(".wzd-qr");
    for (var i = 0; i < old.length; i++) old[i].disabled = true;
  }

  function addLine(sender, text, author, language, noPhones) {
    var node = el("div", "wzd-msg"); node.setAttribute("data-sender", sender);
    // The language the line is written in (the bot's custom.language, the desk's own lines'), for screen readers and fonts.
    if (language) node.lang = language;
    if (sender === "clerk") { var who = el("span", "wzd-who", t("clerk", { name: author || "" })); who.lang = lang; node.appendChild(who); }
    var body = el("span", "wzd-text"); fillText(body, text, noPhones); node.appendChild(body);
    ui.log.insertBefore(node, ui.typing);
    return node;
  }

  // One bot_uttered (live or from history) or a stored citizen line from history.
  function render(msg) {
    var meta = msg.metadata || {}, sender = meta.sender || "bot";
    if (meta.id) { if (seenIds[meta.id]) return; seenIds[meta.id] = true; lastId = Math.max(lastId, meta.id); }
    if (sender === "citizen") {
      var mine = meta.client_id && byClient[meta.client_id];
      if (mine) { mine.classList.remove("pending"); return; }
      var line = addLine("citizen", msg.text || "");
      if (meta.client_id) byClient[meta.client_id] = line;
      scroll(); return;
    }
    if (sender !== "citizen") showTyping(false);
    // No phone links in a case-status reply (issue 10): its digits are case numbers and dates.
    if (msg.text) addLine(sender, msg.text, meta.author, meta.language, !!(meta.custom && meta.custom.case));
    if (msg.attachment && msg.attachment.type === "image" && /^https?:/.test(msg.attachment.payload.src || "")) {
      var img = el("img"); img.src = msg.attachment.payload.src; img.alt = t("image"); img.style.maxWidth = "70%";
      ui.log.insertBefore(img, ui.typing);
    }
    // A booking's calendar file (issue 14): a link the citizen can tap, only to the desk's own /calendar/.
    var booking = meta.custom && meta.custom.booking;
    if (booking && typeof booking.ics === "string" && /^https?:\/\/[^/]+\/calendar\/[\w-]+\.ics$/.test(booking.ics)) {
      var ics = el("a", "wzd-ics", "📅 " + booking.code + ".ics"); ics.href = booking.ics; ics.download = booking.code + ".ics";
      ui.log.insertBefore(ics, ui.typing);
    }
    var replies = msg.quick_replies || (msg.buttons || []).map(function (b) { return { title: b.title, payload: b.payload }; });
    if (replies.length) {
      disableQuickReplies();
      var box = el("div", "wzd-qrs");
      if (meta.language) box.lang = meta.language;
      replies.forEach(function (r) {
        var b = el("button", "wzd-qr", r.title); b.type = "button";
        b.addEventListener("click", function () { disableQuickReplies(); send(r.payload || r.title, r.title); });
        box.appendChild(b);
      });
      ui.log.insertBefore(box, ui.typing);
    }
    if (meta.custom && meta.custom.handoff) setState("queued");
    // The desk's events on system lines (bot_uttered metadata.event), never their wording.
    if (meta.event && Object.prototype.hasOwnProperty.call(EVENTS, meta.event)) setState(EVENTS[meta.event], meta.author);
    scroll();
  }

  var EVENTS = { joined: "clerk", left: "bot", closed: "bot", queued: "queued" };

  function send(payload, title) {
    var item = { client_id: newId(), message: payload, title: title || payload };
    pending.push(item); store.set("pending", pending);
    var line = addLine("citizen", item.title); line.classList.add("pending");
    byClient[item.client_id] = line; scroll();
    emit(item);
  }

  function emit(item) {
    if (!socket || !socket.connected || !sessionId) return; // re-sent on (re)connect
    showTyping(true);
    socket.timeout(10000).emit("user_uttered", {
      message: item.message, session_id: sessionId, client_id: item.client_id,
      // The language: "picked" once the citizen chose it in the switcher, else the browser's locale (a guess).
      customData: {
        client_id: item.client_id, title: item.title, page: location.pathname,
        language: lang, language_source: picked ? "picked" : "locale"
      }
    }, function (err, ack) {
      if (err || !ack) return; // no acknowledgement: stays pending, re-sent after reconnect
      if (!ack.ok) {
        showTyping(false);
        // Database down or rate limited: the line stays pending and is sent again with backoff (issue 10, item 4).
        if (ack.retry) { retryLater(item, ack.error); return; }
        addLine("system", ack.error || t("send_failed"), null, ack.error ? null : lang); dropPending(item.client_id);
        var failed = byClient[item.client_id]; if (failed) failed.classList.remove("pending");
        return;
      }
      dropPending(item.client_id);
      var line = byClient[item.client_id];
      if (line) line.classList.remove("pending");
      if (ack.id) seenIds[ack.id] = true;
    });
  }

  function retryLater(item, reason) {
    item.attempt = (item.attempt || 0) + 1;
    var line = byClient[item.client_id];
    if (line) { line.classList.add("pending"); line.title = (reason ? reason + " " : "") + t("resend"); }
    if (item.attempt === 1 && reason) addLine("system", reason + " " + t("resend"), null, lang);
    setTimeout(function () { emit(item); }, Math.min(60000, 2000 * Math.pow(2, item.attempt - 1)));
  }

  function dropPending(clientId) {
    pending = pending.filter(function (p) { return p.client_id !== clientId; }); store.set("pending", pending);
  }

  function loadHistory() {
    socket.timeout(10000).emit("history_request", { session_id: sessionId, after: lastId }, function (err, reply) {
      if (err || !reply) return;
      // The message length limit is the desk's (bot/limits.py), not written here.
      if (reply.max_text) ui.input.maxLength = reply.max_text;
      reply.messages.forEach(render);
      if (reply.state === "clerk" && reply.clerk) setState("clerk", reply.clerk);
      else setState(reply.state === "waiting" ? "queued" : "bot");
      pending.slice().forEach(emit);
      if (!pending.length) showTyping(false);
    });
  }

  function connect() {
    if (socket) return;
    socket = window.io(BASE, { transports: ["websocket", "polling"], reconnectionDelayMax: 3000 });
    socket.on("connect", function () {
      ui.banner.classList.remove("show");
      socket.emit("session_request", { session_id: sessionId });
    });
    socket.on("session_confirm", function (confirmed) {
      sessionId = (confirmed && confirmed.session_id) || confirmed;
      store.set("session", sessionId);
      loadHistory();
    });
    socket.on("bot_uttered", render);
    socket.on("desk_typing", function (data) { showTyping(!!(data && data.on)); });
    socket.on("disconnect", function () { ui.banner.classList.add("show"); });
    socket.on("connect_error", function () { ui.banner.classList.add("show"); });
  }

  function start() {
    build();
    // The citizen's own pending lines survive a reload; they are drawn now and re-sent once connected.
    pending.forEach(function (p) { var line = addLine("citizen", p.title); line.classList.add("pending"); byClient[p.client_id] = line; });
    if (store.get("open", false) || (script && script.getAttribute("data-open") === "true")) open();
    else if (sessionId) connect();
  }

  function loadStrings(then) {
    fetch(BASE + "/api/widget/strings").then(function (reply) { return reply.json(); })
      .then(function (data) { I18N = data; lang = initialLanguage(); then(); })
      .catch(function () { setTimeout(function () { loadStrings(then); }, 3000); }); // the desk is restarting
  }

  function boot() {
    var waiting = 2;
    function ready() { if (--waiting === 0) start(); }
    loadStrings(ready);
    if (window.io) return ready();
    var loader = document.createElement("script");
    loader.src = BASE + "/static/vendor/socket.io.min.js";
    loader.onload = ready;
    document.head.appendChild(loader);
  }

  window.WenzhouDesk = {
    open: function () { open(); },
    send: function (text) { send(text, null); },
    language: function () { return lang; }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();
