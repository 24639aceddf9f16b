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

  // Colours meet WCAG 2.1 AA (4.5:1 for text): no state is shown by transparency, which lowers contrast
  // (pending bubbles at 60% were 3.2:1, used buttons at 45% 2.3:1). Targets are at least 44×44 px.
  var CSS = [
    ".wzd-sr{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}",
    ".wzd-launcher{position:fixed;right:16px;bottom:16px;z-index:2147483000;background:#c8102e;color:#fff;border:0;border-radius:28px;padding:14px 20px;min-height:48px;font-size:16px;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}",
    ".wzd-panel{position:fixed;right:16px;bottom:16px;z-index:2147483001;width:380px;height:600px;max-height:calc(100vh - 32px);background:#f5f6f8;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:none;flex-direction:column;overflow:hidden;font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;font-size:15px;color:#222}",
    ".wzd-panel.open{display:flex}",
    "@media (max-width:600px){.wzd-panel{right:0;bottom:0;width:100vw;height:100%;max-height:100%;border-radius:0}}",
    ".wzd-panel :focus-visible{outline:3px solid #1a56c4;outline-offset:2px}",
    ".wzd-head{background:#c8102e;color:#fff;padding:6px 8px 6px 12px;display:flex;flex-wrap:wrap;align-items:center;gap:6px}",
    ".wzd-title{flex:1 1 120px;min-width:0}.wzd-title b{display:block;font-size:16px}.wzd-status{font-size:13px}",
    ".wzd-head button,.wzd-head select{min-width:44px;min-height:44px;background:#a30d25;color:#fff;border:1px solid #fff;border-radius:22px;padding:4px 10px;font-size:14px;cursor:pointer}",
    ".wzd-head .wzd-human{background:#fff;color:#a30d25;font-weight:bold}",
    ".wzd-head .wzd-human[hidden]{display:none}",
    ".wzd-head button[aria-pressed=true]{background:#fff;color:#a30d25}",
    ".wzd-head select option{color:#222;background:#fff}",
    ".wzd-banner{display:none;background:#fff3cd;color:#6b4f00;padding:6px 12px;font-size:14px}",
    ".wzd-banner.show{display:block}",
    ".wzd-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".wzd-msg{max-width:82%;padding:9px 12px;border-radius:12px;line-height:1.55;white-space:pre-wrap;word-break:break-word}",
    ".wzd-msg a{color:inherit;text-decoration:underline}",
    ".wzd-msg[data-sender=citizen]{align-self:flex-end;background:#c8102e;color:#fff;border-bottom-right-radius:3px}",
    // Still being sent: said in words (a small 'sending' tag) and by a dashed edge, never by fading the text.
    ".wzd-msg[data-sender=citizen].pending{background:#a30d25;outline:2px dashed #a30d25;outline-offset:2px}",
    ".wzd-pending-tag{display:none;font-size:12px;margin-left:6px}.wzd-msg.pending .wzd-pending-tag{display:inline}",
    ".wzd-msg[data-sender=bot],.wzd-msg[data-sender=clerk],.wzd-msg[data-sender=intro]{align-self:flex-start;background:#fff;border-bottom-left-radius:3px;box-shadow:0 1px 2px rgba(0,0,0,.08)}",
    ".wzd-msg[data-sender=clerk]{border-left:3px solid #1a56c4}",
    ".wzd-who{display:block;font-size:13px;color:#1a56c4;margin-bottom:2px}",
    ".wzd-msg[data-sender=system]{align-self:center;background:#e4e7ec;color:#3d4451;font-size:14px;max-width:92%;text-align:center}",
    ".wzd-qrs{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start;max-width:92%}",
    ".wzd-qr{min-height:44px;min-width:44px;background:#fff;color:#a30d25;border:1px solid #a30d25;border-radius:22px;padding:6px 14px;font-size:15px;cursor:pointer;font-family:inherit}",
    // A used or stale button: grey with dark text (7:1) and struck through, so the state is not colour alone.
    ".wzd-qr:disabled{background:#eceef1;color:#4a4f57;border:1px dashed #6b7280;cursor:default;text-decoration:line-through}",
    ".wzd-qr.chosen:disabled{text-decoration:none;border-style:solid;font-weight:bold}",
    ".wzd-welcome{align-self:stretch}",
    ".wzd-leavebar{display:flex;justify-content:flex-end;padding:0 10px 6px;background:#fff}.wzd-leavebar[hidden]{display:none}",
    ".wzd-leavebar button,.wzd-leaveform button{min-height:44px;min-width:44px;background:#fff;color:#a30d25;border:1px solid #a30d25;border-radius:22px;padding:6px 14px;font-size:15px;cursor:pointer;font-family:inherit}",
    ".wzd-leaveform{display:flex;flex-direction:column;gap:6px;padding:10px;background:#fff;border-top:1px solid #e3e3e3}.wzd-leaveform[hidden]{display:none}",
    ".wzd-leaveform label{display:flex;flex-direction:column;gap:4px;font-size:14px;color:#3d4451}",
    ".wzd-leaveform textarea,.wzd-leaveform input{font:inherit;border:1px solid #6b7280;border-radius:8px;padding:8px;min-height:44px}",
    ".wzd-leaveform .wzd-row{display:flex;gap:8px;justify-content:flex-end}.wzd-leaveform .wzd-leave-send{background:#c8102e;color:#fff;border-color:#c8102e}",
    ".wzd-panel.large .wzd-leavebar button,.wzd-panel.large .wzd-leaveform button,.wzd-panel.large .wzd-leaveform input,.wzd-panel.large .wzd-leaveform textarea{min-height:60px;font-size:24px}",
    ".wzd-panel.large .wzd-leaveform label{font-size:22px}",
    ".wzd-typing{align-self:flex-start;display:none;background:#fff;border-radius:12px;padding:10px 14px}",
    ".wzd-typing.show{display:block}",
    ".wzd-typing i{display:inline-block;width:7px;height:7px;margin:0 2px;border-radius:50%;background:#6b7280;animation:wzd-blink 1.2s infinite}",
    ".wzd-typing i:nth-child(2){animation-delay:.2s}.wzd-typing i:nth-child(3){animation-delay:.4s}",
    "@keyframes wzd-blink{0%,80%,100%{opacity:.2}40%{opacity:1}}",
    "@media (prefers-reduced-motion:reduce){.wzd-typing i{animation:none}}",
    ".wzd-form{display:flex;gap:8px;padding:10px;background:#fff;border-top:1px solid #e3e3e3}",
    ".wzd-input{flex:1;min-width:0;min-height:44px;border:1px solid #6b7280;border-radius:22px;padding:10px 14px;font-size:16px;resize:none;font-family:inherit;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".wzd-input:focus{white-space:pre-wrap;overflow:auto}",
    ".wzd-attach{min-height:44px;min-width:44px;background:#fff;color:#a30d25;border:1px solid #a30d25;border-radius:22px;padding:0 8px;font-size:14px;cursor:pointer;font-family:inherit}",
    ".wzd-panel.large .wzd-attach{min-width:60px;min-height:60px;font-size:24px}",
    ".wzd-file{display:block;margin-top:6px}.wzd-file img{display:block;max-width:100%;max-height:200px;border-radius:6px}",
    ".wzd-send{min-height:44px;min-width:44px;background:#c8102e;color:#fff;border:0;border-radius:22px;padding:0 18px;font-size:16px;cursor:pointer}",
    // The elderly-friendly mode (MIIT 2021 适老化): body text 18 pt (24 px) and more, line spacing 1.5,
    // touch targets 60×60 px, the header and every label larger too.
    ".wzd-panel.large{font-size:24px;line-height:1.5;width:min(560px,calc(100vw - 32px));height:min(760px,calc(100vh - 32px))}",
    "@media (max-width:600px){.wzd-panel.large{width:100vw;height:100%}}",
    ".wzd-panel.large .wzd-msg{line-height:1.5}",
    ".wzd-panel.large .wzd-title b{font-size:26px}.wzd-panel.large .wzd-status,.wzd-panel.large .wzd-who,.wzd-panel.large .wzd-banner,.wzd-panel.large .wzd-pending-tag{font-size:20px}",
    ".wzd-panel.large .wzd-head button,.wzd-panel.large .wzd-head select,.wzd-panel.large .wzd-qr,.wzd-panel.large .wzd-send,.wzd-panel.large .wzd-input{min-width:60px;min-height:60px;font-size:24px}",
    ".wzd-panel.large .wzd-head button,.wzd-panel.large .wzd-head select{font-size:20px;border-radius:30px}",
    ".wzd-panel.large .wzd-qr,.wzd-panel.large .wzd-send,.wzd-panel.large .wzd-input{border-radius:30px}",
    ".wzd-panel.large .wzd-msg[data-sender=system]{font-size:22px}",
    ".wzd-fb{align-self:flex-start;display:flex;flex-wrap:wrap;gap:6px;font-size:13px;max-width:92%}",
    ".wzd-fb button{background:#fff;color:#444;border:1px solid #bbb;border-radius:14px;padding:4px 12px;min-height:44px;font-size:14px;cursor:pointer}",
    ".wzd-fb button[aria-pressed=true]{border-color:#c8102e;color:#c8102e;font-weight:bold}",
    ".wzd-fb input{flex:1 1 100%;border:1px solid #ccc;border-radius:12px;padding:6px 10px;font-size:14px;font-family:inherit}",
    ".wzd-fb .wzd-done{color:#1b5e20}",
    ".wzd-panel.large .wzd-fb,.wzd-panel.large .wzd-fb button{font-size:20px}.wzd-panel.large .wzd-fb button{min-height:60px}"
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

  // The citizen's time zone (IANA name), so that "back at 08:30 Beijing time" is said in their time.
  function timeZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
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
    // The status line is a live region: "clerk joined", "queued" and "back to the assistant" are announced.
    ui.status = el("span", "wzd-status"); ui.status.setAttribute("role", "status"); title.appendChild(ui.status);
    // The language switcher: each option named in its own language, with its own lang attribute.
    ui.lang = el("select", "wzd-lang");
    I18N.languages.forEach(function (l) { var o = el("option", null, l.name); o.value = l.code; o.lang = l.code; ui.lang.appendChild(o); });
    ui.large = el("button", "wzd-large"); ui.large.type = "button"; ui.large.setAttribute("aria-pressed", "false");
    ui.human = el("button", "wzd-human"); ui.human.type = "button";
    ui.close = el("button", "wzd-close", "✕"); ui.close.type = "button";
    head.appendChild(title); head.appendChild(ui.lang); head.appendChild(ui.large); head.appendChild(ui.human); head.appendChild(ui.close);
    ui.banner = el("div", "wzd-banner");
    ui.log = el("div", "wzd-log"); ui.log.setAttribute("role", "log"); ui.log.setAttribute("aria-live", "polite");
    ui.log.tabIndex = 0; // scrollable by keyboard
    ui.typing = el("div", "wzd-typing");
    ui.typing.appendChild(el("i")); ui.typing.appendChild(el("i")); ui.typing.appendChild(el("i"));
    var form = el("form", "wzd-form");
    ui.input = el("textarea", "wzd-input"); ui.input.rows = 1; ui.input.id = "wzd-input";
    ui.inputLabel = el("label", "wzd-sr"); ui.inputLabel.htmlFor = "wzd-input";
    form.appendChild(ui.inputLabel);
    ui.send = el("button", "wzd-send"); ui.send.type = "submit";
    // A photo or a PDF of a document (jpg, png, pdf; at most 10 MB; the desk checks the content).
    // Its label is a word, not an emoji: not every phone or desk font has 📎.
    ui.attach = el("button", "wzd-attach"); ui.attach.type = "button";
    ui.file = el("input"); ui.file.type = "file"; ui.file.accept = ".jpg,.jpeg,.png,.pdf,image/jpeg,image/png,application/pdf";
    ui.file.hidden = true; ui.file.tabIndex = -1;
    form.appendChild(ui.attach); form.appendChild(ui.file);
    form.appendChild(ui.input); form.appendChild(ui.send);
    // Leaving a message with a contact, while queued: the conversation stays in the console's queue as a
    // ticket, and a clerk's answer reaches the widget whenever it is opened next.
    ui.leaveBar = el("div", "wzd-leavebar"); ui.leaveBar.hidden = true;
    ui.leave = el("button", "wzd-leave"); ui.leave.type = "button"; ui.leaveBar.appendChild(ui.leave);
    ui.leaveForm = el("form", "wzd-leaveform"); ui.leaveForm.hidden = true;
    ui.leaveTitle = el("b"); ui.leaveForm.appendChild(ui.leaveTitle);
    var textLabel = el("label"); ui.leaveTextLabel = el("span"); textLabel.appendChild(ui.leaveTextLabel);
    ui.leaveText = el("textarea", "wzd-leave-text"); ui.leaveText.rows = 3; ui.leaveText.required = true; textLabel.appendChild(ui.leaveText);
    var contactLabel = el("label"); ui.leaveContactLabel = el("span"); contactLabel.appendChild(ui.leaveContactLabel);
    ui.leaveContact = el("input", "wzd-leave-contact"); ui.leaveContact.required = true; ui.leaveContact.maxLength = 120;
    ui.leaveContact.autocomplete = "email"; contactLabel.appendChild(ui.leaveContact);
    var row = el("div", "wzd-row");
    ui.leaveCancel = el("button", "wzd-leave-cancel"); ui.leaveCancel.type = "button";
    ui.leaveSend = el("button", "wzd-leave-send"); ui.leaveSend.type = "submit";
    row.appendChild(ui.leaveCancel); row.appendChild(ui.leaveSend);
    ui.leaveForm.appendChild(textLabel); ui.leaveForm.appendChild(contactLabel); ui.leaveForm.appendChild(row);
    ui.panel.appendChild(head); ui.panel.appendChild(ui.banner); ui.panel.appendChild(ui.log);
    ui.panel.appendChild(ui.leaveBar); ui.panel.appendChild(ui.leaveForm); ui.panel.appendChild(form);
    ui.welcome = el("div", "wzd-welcome");
    ui.log.appendChild(ui.welcome); ui.log.appendChild(ui.typing);
    document.body.appendChild(ui.launcher); document.body.appendChild(ui.panel);

    ui.launcher.addEventListener("click", open);
    ui.close.addEventListener("click", requestClose);
    ui.panel.addEventListener("keydown", keepFocus);
    // Esc also closes when the focus fell out of the panel (an element that was removed or hidden).
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && ui.panel.classList.contains("open") && document.activeElement === document.body) close();
    });
    ui.large.addEventListener("click", function () { setLarge(!ui.panel.classList.contains("large")); });
    ui.human.addEventListener("click", function () { send("/request_human", t("human")); });
    ui.lang.addEventListener("change", function () {
      picked = true; store.set("lang_picked", true); store.set("lang", ui.lang.value); setLanguage(ui.lang.value);
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); submit(); });
    ui.attach.addEventListener("click", function () { ui.file.click(); });
    ui.file.addEventListener("change", function () { if (ui.file.files[0]) upload(ui.file.files[0]); ui.file.value = ""; });
    ui.leave.addEventListener("click", function () { ui.leaveForm.hidden = false; ui.leaveText.value = ui.input.value; ui.leaveText.focus(); });
    ui.leaveCancel.addEventListener("click", function () { ui.leaveForm.hidden = true; ui.leave.focus(); });
    ui.leaveForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = ui.leaveText.value.trim(), contact = ui.leaveContact.value.trim();
      if (!text || !contact) return;
      send(text, null, { contact: contact });
      ui.leaveText.value = ""; ui.input.value = ""; ui.leaveForm.hidden = true; ui.input.focus();
    });
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
    drawWelcome();
    ui.attach.textContent = t("attach_short"); ui.attach.setAttribute("aria-label", t("attach_short") + " – " + t("attach")); ui.attach.title = t("attach");
    ui.input.placeholder = t("placeholder"); ui.send.textContent = t("send"); ui.inputLabel.textContent = t("input_label");
    ui.leave.textContent = t("leave"); ui.leaveTitle.textContent = t("leave_title"); ui.leaveTextLabel.textContent = t("leave_text");
    ui.leaveContactLabel.textContent = t("leave_contact"); ui.leaveSend.textContent = t("leave_send"); ui.leaveCancel.textContent = t("leave_cancel");
    var tags = ui.log.querySelectorAll(".wzd-pending-tag");
    for (var i = 0; i < tags.length; i++) tags[i].textContent = "（" + t("sending") + "）";
    showState();
  }

  // A welcome line and the most asked questions, instead of an empty panel. Not part of the stored
  // conversation: drawn in the widget's language, its buttons offered only until the first message.
  function drawWelcome() {
    var moved = ui.log.querySelector(".wzd-msg:not(.wzd-intro)") !== null;
    ui.welcome.textContent = ""; ui.welcome.lang = lang;
    // Drawn like the bot's lines, but not one of them (data-sender="intro"): it is not part of the transcript.
    var hello = el("div", "wzd-msg wzd-intro"); hello.setAttribute("data-sender", "intro"); hello.lang = lang;
    hello.appendChild(el("span", "wzd-text", t("welcome")));
    ui.welcome.appendChild(hello);
    var box = el("div", "wzd-qrs wzd-suggested"); box.setAttribute("role", "group"); box.setAttribute("aria-label", t("suggested"));
    t("suggestions").split("|").filter(Boolean).forEach(function (question) {
      var b = el("button", "wzd-qr", question); b.type = "button"; b.disabled = moved;
      b.addEventListener("click", function () { b.classList.add("chosen"); send(question, question); });
      box.appendChild(b);
    });
    ui.welcome.appendChild(box);
  }

  // While queued: the position and expected wait the desk pushes (desk_queue), else "queued".
  var queueInfo = null;
  function showState() {
    var queued = !queueInfo ? t("status.queued")
      : queueInfo.minutes ? t("status.position", { position: queueInfo.position, minutes: queueInfo.minutes }) : t("status.waiting");
    ui.status.textContent = state.kind === "clerk" ? t("status.clerk", { name: state.clerk || "" })
      : state.kind === "queued" ? queued : t("status.bot");
    ui.leaveBar.hidden = state.kind !== "queued";
    if (state.kind !== "queued") ui.leaveForm.hidden = true;
  }

  // 转人工 is hidden while a clerk serves the conversation (and while it is already queued for one).
  function setState(kind, clerk) {
    if (kind !== "queued") queueInfo = null;
    state = { kind: kind, clerk: clerk || null };
    // A hidden button cannot keep the keyboard focus: it goes to the input, not to the page behind.
    if (kind !== "bot" && document.activeElement === ui.human) ui.input.focus();
    ui.human.hidden = kind !== "bot";
    showState();
  }

  function setLarge(on) {
    ui.panel.classList.toggle("large", on); ui.large.setAttribute("aria-pressed", on ? "true" : "false"); store.set("large", on);
  }

  // On a phone the panel covers the page: it is then a modal dialog that keeps the focus inside itself.
  var phone = window.matchMedia ? window.matchMedia("(max-width:600px)") : { matches: false };
  function fullScreen() { return phone.matches && ui.panel.classList.contains("open"); }

  function open() {
    ui.panel.classList.add("open"); ui.launcher.style.display = "none"; store.set("open", true);
    ui.panel.setAttribute("role", "dialog");
    if (phone.matches) ui.panel.setAttribute("aria-modal", "true"); else ui.panel.removeAttribute("aria-modal");
    connect(); ui.input.focus();
  }

  function close() {
    ui.panel.classList.remove("open"); ui.launcher.style.display = ""; store.set("open", false);
    ui.launcher.focus();
  }

  // Esc closes the panel; on a phone, Tab and Shift+Tab cycle inside it.
  function keepFocus(event) {
    if (event.key === "Escape" && !event.isComposing) { event.preventDefault(); close(); return; }
    if (event.key !== "Tab" || !fullScreen()) return;
    var focusable = Array.prototype.filter.call(
      ui.panel.querySelectorAll("button,select,textarea,input,a[href],[tabindex='0']"),
      function (n) { return !n.disabled && !n.hidden && n.offsetParent !== null; });
    if (!focusable.length) return;
    var first = focusable[0], last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
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

  // Buttons from earlier answers stop being offered once the conversation moves on.
  // After a reload, only the last answer's buttons are still on offer, and only if nobody spoke since.
  function lastButtonsOnly() {
    var nodes = ui.log.querySelectorAll(".wzd-msg,.wzd-qrs"), last = nodes[nodes.length - 1];
    if (last && last.classList.contains("wzd-qrs") && !last.classList.contains("wzd-suggested")) {
      var buttons = last.querySelectorAll(".wzd-qr");
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
    }
  }

  function disableQuickReplies() {
    var old = ui.log.querySelectorAll(".wzd-qr:not(:disabled)");
    for (var i = 0; i < old.length; i++) old[i].disabled = true;
  }

  // A citizen's line not yet stored by the desk, marked in words as well as by its edge.
  function pendingLine(text) {
    var line = addLine("citizen", text); line.classList.add("pending");
    line.appendChild(el("span", "wzd-pending-tag", "（" + t("sending") + "）"));
    return line;
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

  function fileUrl(id, thumb) {
    return BASE + "/api/conversations/" + encodeURIComponent(sessionId) + "/attachments/" + id + (thumb ? "?thumb=1" : "");
  }

  // An attachment on a line: a thumbnail for a photo, a link for a PDF, each opening the full file.
  function showFile(node, file) {
    if (!file || !file.id) return;
    var a = el("a", "wzd-file"); a.href = fileUrl(file.id, false); a.target = "_blank"; a.rel = "noopener";
    if (file.thumb) { var img = el("img"); img.src = fileUrl(file.id, true); img.alt = file.name; a.appendChild(img); }
    else a.textContent = t("open_file") + "：" + file.name;
    node.appendChild(a);
  }

  function upload(file) {
    if (!sessionId) return;
    if (file.size > 10 * 1024 * 1024) { addLine("system", t("attach") + " · 10 MB", null, lang); scroll(); return; }
    showTyping(true);
    fetch(BASE + "/api/conversations/" + encodeURIComponent(sessionId) + "/attachments", {
      method: "POST", body: file,
      headers: { "Content-Type": "application/octet-stream", "X-File-Name": encodeURIComponent(file.name), "X-Language": lang }
    }).then(function (reply) { return reply.json(); }).then(function (data) {
      showTyping(false);
      if (!data.ok) { addLine("system", data.error || t("send_failed"), null, lang); scroll(); return; }
      disableQuickReplies(); render(lineMessage(data.line));
    }).catch(function () { showTyping(false); addLine("system", t("send_failed"), null, lang); scroll(); });
  }

  // A stored line (the desk's JSON) in the shape of bot_uttered, for render().
  function lineMessage(line) {
    var data = line.data || {};
    return { text: line.text, metadata: { id: line.id, sender: line.sender, author: line.author, attachment: data.attachment } };
  }

  // One bot_uttered (live or from history) or a stored citizen line from history.
  function render(msg) {
    var meta = msg.metadata || {}, sender = meta.sender || "bot";
    if (meta.id) { if (seenIds[meta.id]) return; seenIds[meta.id] = true; lastId = Math.max(lastId, meta.id); }
    if (sender === "citizen") {
      var mine = meta.client_id && byClient[meta.client_id];
      if (mine) { mine.classList.remove("pending"); return; }
      var line = addLine("citizen", msg.text || "");
      showFile(line, meta.attachment);
      if (meta.client_id) byClient[meta.client_id] = line;
      scroll(); return;
    }
    if (sender !== "citizen") showTyping(false);
    // No phone links in a case-status reply (issue 10): its digits are case numbers and dates.
    if (msg.text) showFile(addLine(sender, msg.text, meta.author, meta.language, !!(meta.custom && meta.custom.case)), meta.attachment);
    if (sender === "clerk") exchanged = true;
    if (meta.event === "rate") { ratingAsked = true; store.set("rating_asked:" + sessionId, true); }
    if (sender === "bot" && meta.id && meta.custom && meta.custom.guide_item) addFeedback(meta);
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
      var stars = replies.every(function (r) { return /^\/rate\{/.test(r.payload || ""); });
      if (stars) starGroup(box);
      replies.forEach(function (r) {
        var b = el("button", "wzd-qr", r.title); b.type = "button";
        if (stars) b.setAttribute("aria-label", t("stars", { score: JSON.parse(r.payload.slice("/rate".length)).score }));
        b.addEventListener("click", function () {
          b.classList.add("chosen"); b.setAttribute("aria-label", r.title + "（" + t("chosen") + "）");
          if (/^\/rate\{/.test(r.payload || "")) { disableQuickReplies(); rate(r.payload, b); } else send(r.payload || r.title, r.title);
        });
        box.appendChild(b);
      });
      ui.log.insertBefore(box, ui.typing);
      // Asked because the citizen closed with the keyboard or a tap: the focus goes to the stars.
      if (stars && focusRating && ui.panel.classList.contains("open")) { focusRating = false; box.firstChild.focus(); }
    }
    if (meta.custom && meta.custom.handoff) setState("queued");
    // The desk's events on system lines (bot_uttered metadata.event), never their wording.
    if (meta.event && Object.prototype.hasOwnProperty.call(EVENTS, meta.event)) setState(EVENTS[meta.event], meta.author);
    scroll();
  }

  /* --- satisfaction (bot/desk/feedback.py): not transcript lines, sent as payloads ---------- */
  var exchanged = false, ratingAsked = store.get("rating_asked:" + sessionId, false);

  function quiet(message, then) {
    if (!socket || !socket.connected || !sessionId) return;
    socket.timeout(10000).emit("user_uttered", { message: message, session_id: sessionId }, function (err, ack) {
      if (then) then(!err && ack && ack.ok ? ack : null);
    });
  }

  function payload(kind, body) { return "/" + kind + JSON.stringify(body); }

  // Helpful / not helpful under each guide answer; not helpful opens the reasons and a comment box.
  function addFeedback(meta) {
    exchanged = true;
    var bar = el("div", "wzd-fb"); bar.lang = lang;
    // Words, not emoji: a machine without an emoji font (many staff PCs, the CI) would draw boxes.
    var yes = el("button", "wzd-yes", t("helpful")), no = el("button", "wzd-no", t("not_helpful"));
    [yes, no].forEach(function (b) { b.type = "button"; b.setAttribute("aria-pressed", "false"); bar.appendChild(b); });
    function mark(helpful, reason, comment) {
      quiet(payload("feedback", { message_id: meta.id, helpful: helpful, reason: reason || null, comment: comment || null }), function (ack) {
        if (!ack) return;
        yes.setAttribute("aria-pressed", helpful ? "true" : "false"); no.setAttribute("aria-pressed", helpful ? "false" : "true");
        var old = bar.querySelector(".wzd-done"); if (old) old.remove();
        if (helpful || comment !== undefined) bar.appendChild(el("span", "wzd-done", t("thanks")));
      });
    }
    yes.addEventListener("click", function () { mark(true); });
    no.addEventListener("click", function () {
      mark(false);
      if (bar.querySelector(".wzd-reason")) return;
      var chosen = null, input = el("input"); input.placeholder = t("comment"); input.maxLength = 500; input.setAttribute("aria-label", t("comment"));
      ["wrong_item", "unclear", "not_asked", "outdated"].forEach(function (key) {
        var r = el("button", "wzd-reason", t("reason." + key)); r.type = "button"; r.setAttribute("aria-pressed", "false"); r.setAttribute("data-reason", key);
        r.addEventListener("click", function () {
          chosen = key;
          bar.querySelectorAll(".wzd-reason").forEach(function (o) { o.setAttribute("aria-pressed", o === r ? "true" : "false"); });
        });
        bar.appendChild(r);
      });
      var ok = el("button", "wzd-fb-send", t("submit")); ok.type = "button";
      ok.addEventListener("click", function () { mark(false, chosen, input.value.trim()); });
      bar.appendChild(input); bar.appendChild(ok);
    });
    ui.log.insertBefore(bar, ui.typing);
  }

  // A star button of the end-of-conversation rating, then an optional comment.
  function rate(message, button) {
    var score = JSON.parse(message.slice("/rate".length)).score;
    button.setAttribute("aria-pressed", "true");
    quiet(message, function (ack) {
      if (!ack) return;
      var bar = el("div", "wzd-fb wzd-rating"); bar.lang = lang;
      var input = el("input"); input.placeholder = t("rating_comment"); input.maxLength = 500; input.setAttribute("aria-label", t("rating_comment"));
      var ok = el("button", null, t("submit")); ok.type = "button";
      ok.addEventListener("click", function () {
        if (!input.value.trim()) return;
        quiet(payload("rate", { score: score, comment: input.value.trim() }), function (done) {
          // The box goes away: the focus goes to the input rather than to the page behind.
          if (done) { bar.textContent = ""; bar.appendChild(el("span", "wzd-done", t("thanks"))); ui.input.focus(); }
        });
      });
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.isComposing) { event.preventDefault(); ok.click(); }
      });
      bar.appendChild(input); bar.appendChild(ok);
      ui.log.insertBefore(bar, ui.typing); scroll();
      // The chosen star is now disabled and cannot keep the focus: the optional comment takes it.
      input.focus();
    });
  }

  // The 1–5 stars as one labelled group: Tab reaches each star, the arrow keys move between them,
  // Enter or Space gives the rating (they are buttons).
  var focusRating = false;
  function starGroup(box) {
    box.classList.add("wzd-stars"); box.setAttribute("role", "group"); box.setAttribute("aria-label", t("rating_group"));
    box.addEventListener("keydown", function (event) {
      var step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
      if (!step) return;
      var stars = Array.prototype.filter.call(box.querySelectorAll(".wzd-qr"), function (b) { return !b.disabled; });
      var at = stars.indexOf(document.activeElement);
      if (at < 0) return;
      event.preventDefault();
      stars[Math.min(stars.length - 1, Math.max(0, at + step))].focus();
    });
  }

  // Closing after a real exchange asks for the rating once (the desk decides and remembers); else it closes.
  function closePanel() {
    close();
  }
  function requestClose() {
    if (!exchanged || ratingAsked || !socket || !socket.connected) return closePanel();
    ratingAsked = true; store.set("rating_asked:" + sessionId, true); focusRating = true;
    quiet("/rating_request", function (ack) { if (!ack || !ack.asked) { focusRating = false; closePanel(); } });
  }

  var EVENTS = { joined: "clerk", left: "bot", closed: "bot", queued: "queued" };

  function send(payload, title, extra) {
    var item = { client_id: newId(), message: payload, title: title || payload, extra: extra || null };
    pending.push(item); store.set("pending", pending);
    disableQuickReplies();
    var line = pendingLine(item.title);
    byClient[item.client_id] = line; scroll();
    emit(item);
  }

  function emit(item) {
    if (!socket || !socket.connected || !sessionId) return; // re-sent on (re)connect
    showTyping(true);
    socket.timeout(10000).emit("user_uttered", {
      message: item.message, session_id: sessionId, client_id: item.client_id,
      // The language: "picked" once the citizen chose it in the switcher, else the browser's locale (a guess).
      customData: Object.assign({
        client_id: item.client_id, title: item.title, page: location.pathname,
        language: lang, language_source: picked ? "picked" : "locale", timezone: timeZone()
      }, item.extra || {})
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
      if (reply.messages.length) { disableQuickReplies(); lastButtonsOnly(); }
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
      // `widget`: this widget, not rasa-webchat, so the desk sends its lines with their metadata.
      socket.emit("session_request", { session_id: sessionId, widget: "wenzhou" });
    });
    socket.on("session_confirm", function (confirmed) {
      sessionId = (confirmed && confirmed.session_id) || confirmed;
      store.set("session", sessionId);
      loadHistory();
    });
    socket.on("bot_uttered", render);
    socket.on("desk_typing", function (data) { showTyping(!!(data && data.on)); });
    socket.on("desk_queue", function (data) {
      if (!data || typeof data.position !== "number") return;
      queueInfo = { position: data.position, minutes: data.minutes || null };
      if (state.kind === "queued") showState();
    });
    socket.on("disconnect", function () { ui.banner.classList.add("show"); });
    socket.on("connect_error", function () { ui.banner.classList.add("show"); });
  }

  function start() {
    build();
    // The citizen's own pending lines survive a reload; they are drawn now and re-sent once connected.
    pending.forEach(function (p) { byClient[p.client_id] = pendingLine(p.title); });
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
