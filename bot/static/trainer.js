/* Trainers' workbench. All text goes into the page as text (textContent), never as HTML. */
"use strict";
(function () {
  var OUTCOMES = {
    answered: "已回答", clarified: "给出选项", fallback: "未理解", handed_off: "转人工", queued: "排队",
    clerk: "人工处理", out_of_scope: "超出范围", "case": "查询办件", no_reply: "无回复", answered_other: "其他回复"
  };
  var REASONS = { wrong_item: "答非所问的事项", unclear: "看不懂", not_asked: "不是想问的", outdated: "信息过时" };
  var STAGES = { queued: "排队中", validate: "检查数据", train: "训练模型", evaluate: "测试集评估", compare: "对比", done: "完成" };
  var me = null, vocab = null, titles = {}, selectedIntent = null, pollTimer = null, latestJob = null;

  var $ = DeskCommon.$, el = DeskCommon.el;
  var api = DeskCommon.makeApi("/trainer", function () { return me && me.csrf; });
  var PAGE = 50, inboxOffset = 0;
  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }

  function intentTitle(intent) { return titles[intent] || intent || "—"; }

  function intentSelect(current) {
    var select = el("select");
    select.appendChild(el("option", null, "改为…")).value = "";
    var general = el("optgroup"); general.label = "通用";
    vocab.general_intents.forEach(function (i) { var o = el("option", null, i); o.value = i; general.appendChild(o); });
    select.appendChild(general);
    var items = el("optgroup"); items.label = "服务事项";
    vocab.items.forEach(function (it) { var o = el("option", null, it.title); o.value = it.intent; items.appendChild(o); });
    select.appendChild(items);
    if (current) select.value = current;
    return select;
  }

  /* --- inbox ------------------------------------------------------------------------- */
  // One page at a time (issue 10, item 8), PAGE rows; 上一页/下一页 move `inboxOffset`.
  async function loadInbox() {
    var params = new URLSearchParams();
    params.set("filter", $("f-filter").value);
    if ($("f-item").value) params.set("item", $("f-item").value);
    if ($("f-language").value) params.set("language", $("f-language").value);
    if ($("f-since").value) params.set("since", $("f-since").value);
    if ($("f-until").value) params.set("until", $("f-until").value);
    // Identical and near-identical questions are one row with a count; the list comes a page at a time.
    params.set("group", "1"); params.set("offset", String(inboxOffset)); params.set("limit", String(PAGE));
    var data = await api("GET", "/trainer/api/inbox?" + params.toString());
    if (!data.entries.length && inboxOffset > 0) { inboxOffset = Math.max(0, inboxOffset - PAGE); return loadInbox(); }
    var body = $("inbox"); body.textContent = "";
    var pages = Math.max(1, Math.ceil(data.total / PAGE)), pageNo = Math.floor(inboxOffset / PAGE) + 1;
    $("inbox-count").textContent = "共 " + data.total + " 组问题";
    $("inbox-page").textContent = "第 " + pageNo + " / " + pages + " 页";
    $("inbox-prev").disabled = inboxOffset === 0; $("inbox-next").disabled = inboxOffset + PAGE >= data.total;
    data.entries.forEach(function (e) { body.appendChild(inboxRow(e)); });
    if (!data.entries.length) { var tr = el("tr"); tr.appendChild(el("td", "muted", "没有符合条件的消息")); body.appendChild(tr); }
  }

  // Which part of the conversation decided the answer (bot/actions/context.py), in the trainer's words.
  var DECIDED_BY = {
    message: "仅凭本句", button: "点了按钮", candidates: "从候选事项中选定", "return": "回到之前的话题",
    earlier_topic: "之前谈过的事项", current_item: "当前事项的追问", narrowing: "在当前事项中缩小范围",
    circumstance: "情况变化（人在国外）", topic: "笼统问一类事项，请其选择", correction: "纠正了当前事项"
  };
  var HOW = {
    ordinal: "按序号", title: "输入了事项名称", synonym: "按同义词", distinguishing_word: "按区分词",
    ranking_among_candidates: "候选中模型最有把握", neighbour: "候选的同类事项", ranking_among_neighbours: "同类事项中模型最有把握",
    still_open: "仍待选择", previous_topic: "上一个话题", ranking: "按模型排序", named: "提到了事项名称",
    own_words: "本事项的用词", context_word: "上下文词（代办、在国外等）", follow_up: "无新事项的追问",
    topic_change: "换了话题", abroad: "说明人在国外", abroad_earlier: "此前说过人在国外",
    general_question: "只提到事项类别", topics_meet: "两个类别的交集", circumstance: "按所说情况（人在国外）",
    more: "要看其他事项", other_items: "列出其他可能事项"
  };
  function itemTitle(id) { return intentTitle("item_" + String(id).replace(/-/g, "_")); }
  function contextNote(c) {
    var text = "上下文：" + (DECIDED_BY[c.decided_by] || c.decided_by) + (c.how ? "（" + (HOW[c.how] || c.how) + "）" : "");
    if (c.previous_item) text += "；之前：" + itemTitle(c.previous_item);
    if (c.offered && c.offered.length) text += "；当时提供：" + c.offered.map(itemTitle).join("、");
    var note = el("div", "context muted", text);
    note.setAttribute("data-decided-by", c.decided_by);
    return note;
  }

  function inboxRow(e) {
    var tr = el("tr"); tr.setAttribute("data-message", e.message_id);
    var ids = e.message_ids || [e.message_id];
    var said = el("td", "text", e.text); if (e.language) { said.lang = e.language; said.title = e.language; }
    if (ids.length > 1) said.appendChild(el("span", "badge count", "×" + ids.length));
    // Which conversation, by its staff number (never its id, the citizen's bearer secret).
    else if (e.conversation) said.appendChild(el("div", "conversation muted", "会话 #" + e.conversation));
    tr.appendChild(said);
    var understood = e.item ? intentTitle("item_" + e.item.replace(/-/g, "_")) : (e.intent || "—");
    var cell = el("td", null, understood + (e.aspect ? " · " + (vocab.aspects[e.aspect] || e.aspect) : ""));
    if (e.context) cell.appendChild(contextNote(e.context));
    tr.appendChild(cell);
    tr.appendChild(el("td", null, e.confidence === null ? "—" : e.confidence.toFixed(2)));
    var outcome = el("td", null, OUTCOMES[e.outcome] || e.outcome);
    // What the citizen said of the answer and of the conversation (bot/desk/feedback.py).
    if (e.feedback) {
      var mark = e.feedback.helpful ? "群众评价：有帮助" : "群众评价：没帮助" + (e.feedback.reason ? "（" + (REASONS[e.feedback.reason] || e.feedback.reason) + "）" : "");
      outcome.appendChild(el("div", "feedback", mark + (e.feedback.comment ? "「" + e.feedback.comment + "」" : "")));
    }
    if (e.rating !== null && e.rating !== undefined) outcome.appendChild(el("div", "rating", "会话评分 " + e.rating + " 星"));
    tr.appendChild(outcome);
    var label = "纠正：" + e.text;
    var td = el("td", "correct");
    if (e.corrected) { td.appendChild(el("span", "ok", "已纠正：" + intentTitle(e.corrected.intent))); tr.appendChild(td); return tr; }
    // Never pre-filled with an item or aspect carried from an earlier turn ("查办件进度" after a fees
    // question showed 收费标准): only the intent the NLU found in this very message, else nothing.
    var select = intentSelect(e.intent && e.intent !== "nlu_fallback" ? e.intent : "");
    select.setAttribute("aria-label", label + "（事项或意图）");
    var aspect = el("select"); aspect.appendChild(el("option", null, "（方面）")).value = "";
    aspect.setAttribute("aria-label", label + "（方面）");
    Object.keys(vocab.aspects).forEach(function (k) { var o = el("option", null, vocab.aspects[k]); o.value = k; aspect.appendChild(o); });
    // Optional entity span: the words as they appear in the message, and their type.
    var spanText = el("input"); spanText.placeholder = "标注文字（可选）"; spanText.size = 10; spanText.className = "span-text";
    spanText.setAttribute("aria-label", "标注文字（可选）");
    var spanType = el("select"); spanType.className = "span-type"; spanType.setAttribute("aria-label", "实体类型");
    spanType.appendChild(el("option", null, "（实体类型）")).value = "";
    vocab.entities.forEach(function (name) { var o = el("option", null, name); o.value = name; spanType.appendChild(o); });
    var confirm = el("button", null, "确认"); confirm.type = "button";
    var oos = el("button", null, "超出范围"); oos.type = "button";
    var status = el("span", "msg");
    async function send(body) {
      status.textContent = ""; status.className = "msg";
      try {
        // A grouped row's correction is every one of its lines'.
        for (var i = 0; i < ids.length; i++) await api("POST", "/trainer/api/inbox/" + ids[i] + "/correct", body);
        td.textContent = ""; td.appendChild(el("span", "ok", "已保存为训练数据")); loadPending();
      } catch (err) { status.textContent = err.message; status.className = "msg error"; }
    }
    confirm.addEventListener("click", function () {
      if (!select.value) { status.textContent = "请选择事项或意图"; status.className = "msg error"; return; }
      var body = { intent: select.value, aspect: aspect.value || null };
      if (spanText.value && spanType.value) body.entities = [{ entity: spanType.value, text: spanText.value }];
      send(body);
    });
    oos.addEventListener("click", function () { send({ out_of_scope: true }); });
    [select, aspect, spanText, spanType, confirm, oos, status].forEach(function (n) { td.appendChild(n); });
    tr.appendChild(td);
    return tr;
  }

  /* --- items -------------------------------------------------------------------------- */
  var itemRows = [];
  async function loadItems() {
    itemRows = (await api("GET", "/trainer/api/items")).items;
    renderItems();
  }
  function renderItems() {
    var q = $("item-search").value.trim();
    var body = $("items"); body.textContent = "";
    itemRows.filter(function (r) { return !q || r.title.indexOf(q) >= 0 || r.id.indexOf(q) >= 0; }).forEach(function (r) {
      var tr = el("tr", "clickable"); tr.setAttribute("data-intent", r.intent);
      if (r.intent === selectedIntent) tr.classList.add("selected");
      tr.appendChild(el("td", null, r.title));
      tr.appendChild(el("td", null, r.examples));
      tr.appendChild(el("td", null, r.asked));
      tr.appendChild(el("td", null, pct(r.accuracy)));
      tr.addEventListener("click", function () { selectedIntent = r.intent; renderItems(); loadExamples(r.intent); });
      body.appendChild(tr);
    });
  }
  async function loadExamples(intent) {
    var data = await api("GET", "/trainer/api/items/" + encodeURIComponent(intent) + "/examples");
    var box = $("item-detail"); box.textContent = "";
    box.appendChild(el("h3", null, intentTitle(intent) + "（" + data.examples.length + " 个例句）"));
    var form = el("form", "row");
    var input = el("input"); input.placeholder = "添加一个新说法"; input.id = "new-example"; input.size = 40;
    var add = el("button", null, "添加"); add.type = "submit";
    var msg = el("span", "msg");
    form.appendChild(input); form.appendChild(add); form.appendChild(msg);
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      try { await api("POST", "/trainer/api/items/" + intent + "/examples/add", { text: input.value }); loadExamples(intent); loadPending(); }
      catch (err) { msg.textContent = err.message; msg.className = "msg error"; }
    });
    box.appendChild(form);
    var list = el("ul", "examples");
    var shownLang = null;
    data.examples.forEach(function (ex) {
      // The examples per language (the server sorts them by language folder).
      if (ex.lang !== shownLang) { shownLang = ex.lang; list.appendChild(el("li", "lang-head", (vocab.languages || {})[ex.lang] || ex.lang)); }
      var li = el("li"); li.lang = ex.lang;
      var span = el("span", null, ex.text);
      var edit = el("button", null, "修改"); edit.type = "button";
      var del = el("button", null, "删除"); del.type = "button";
      var move = intentSelect(""); move.title = "移到其他事项";
      var err = el("span", "error");
      edit.addEventListener("click", async function () {
        var next = window.prompt("修改例句", ex.text);
        if (next === null) return;
        try { await api("POST", "/trainer/api/items/" + intent + "/examples/edit", { text: ex.text, new_text: next }); loadExamples(intent); loadPending(); }
        catch (e) { err.textContent = e.message; }
      });
      del.addEventListener("click", async function () {
        try { await api("POST", "/trainer/api/items/" + intent + "/examples/delete", { text: ex.text }); loadExamples(intent); loadPending(); }
        catch (e) { err.textContent = e.message; }
      });
      move.addEventListener("change", async function () {
        if (!move.value) return;
        try { await api("POST", "/trainer/api/items/" + intent + "/examples/move", { text: ex.text, to: move.value }); loadExamples(intent); loadPending(); }
        catch (e) { err.textContent = e.message; }
      });
      [span, edit, del, move, err].forEach(function (n) { li.appendChild(n); });
      list.appendChild(li);
    });
    box.appendChild(list);
  }

  /* --- training ------------------------------------------------------------------------- */
  async function loadPending() {
    var data = await api("GET", "/trainer/api/pending");
    $("pending-count").textContent = String(data.pending.length);
    $("pending-diff").textContent = data.diff.length ? data.diff.join("\n") : "没有待训练的修改。";
  }

  function showJob(job) {
    latestJob = job;
    if (!job) { $("job").hidden = true; return; }
    $("job").hidden = false;
    $("job-id").textContent = job.id;
    $("job-stage").textContent = job.status === "failed" ? "失败" : (STAGES[job.stage] || job.stage);
    $("job-elapsed").textContent = Math.round(job.elapsed_s);
    $("job-bar").style.width = Math.round(job.progress * 100) + "%";
    $("job-error").textContent = job.error || "";
    $("train").disabled = job.status === "queued" || job.status === "running";
    if (job.status === "done" && job.result) showComparison(job);
    else $("comparison").hidden = true;
  }

  function showComparison(job) {
    var r = job.result;
    $("comparison").hidden = false;
    var overall = $("overall"); overall.textContent = "";
    [["事项准确率", "item_accuracy"], ["通用意图准确率", "general_accuracy"]].forEach(function (pair) {
      var tr = el("tr");
      tr.appendChild(el("th", null, pair[0]));
      tr.appendChild(el("td", null, "候选 " + pct(r.candidate[pair[1]])));
      tr.appendChild(el("td", null, "线上 " + (r.live ? pct(r.live[pair[1]]) : "—")));
      var d = r.delta ? r.delta[pair[1]] : null;
      tr.appendChild(el("td", d > 0 ? "up" : (d < 0 ? "down" : ""), d === null ? "" : (d >= 0 ? "+" : "") + (d * 100).toFixed(1) + "%"));
      overall.appendChild(tr);
    });
    // Item accuracy on each language's held-out set: a candidate worse in any language needs an admin's override.
    (r.per_language || []).forEach(function (row) {
      var tr = el("tr"); tr.setAttribute("data-language", row.language);
      tr.appendChild(el("th", null, "事项准确率 · " + ((vocab.languages || {})[row.language] || row.language)));
      tr.appendChild(el("td", null, "候选 " + pct(row.candidate)));
      tr.appendChild(el("td", null, "线上 " + (row.live === null ? "—" : pct(row.live))));
      var d = row.delta;
      tr.appendChild(el("td", row.worse ? "down" : (d > 0 ? "up" : ""), d === null ? "" : (d >= 0 ? "+" : "") + (d * 100).toFixed(1) + "%"));
      overall.appendChild(tr);
    });
    $("override-box").hidden = !(r.worse_than_live && me.role === "admin");
    $("activate").textContent = r.worse_than_live ? "候选模型较差，不建议上线" : "上线候选模型";
    [["better", r.better], ["worse", r.worse]].forEach(function (pair) {
      var ul = $(pair[0]); ul.textContent = "";
      (pair[1] || []).slice(0, 50).forEach(function (q) { ul.appendChild(el("li", null, q.text + "（" + intentTitle(q.expected) + "）")); });
      if (!(pair[1] || []).length) ul.appendChild(el("li", "muted", "无"));
    });
    $("confusion").src = "/trainer/api/jobs/" + job.id + "/confusion.png";
    var body = $("per-item"); body.textContent = "";
    var changed = r.per_item.filter(function (row) { return row.delta !== 0; });
    if (!changed.length) { var none = el("tr"); none.appendChild(el("td", "muted", r.live ? "各事项准确率没有变化" : "没有线上模型可对比")); body.appendChild(none); }
    changed.slice(0, 40).forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", null, row.title));
      tr.appendChild(el("td", null, pct(row.candidate)));
      tr.appendChild(el("td", null, pct(row.live)));
      tr.appendChild(el("td", row.delta > 0 ? "up" : (row.delta < 0 ? "down" : ""), row.delta === null ? "—" : (row.delta * 100).toFixed(1) + "%"));
      body.appendChild(tr);
    });
  }

  async function pollJob() {
    clearTimeout(pollTimer);
    var data = await api("GET", "/trainer/api/jobs/latest");
    showJob(data.job);
    if (data.job && (data.job.status === "queued" || data.job.status === "running")) pollTimer = setTimeout(pollJob, 1000);
    else { loadPending(); loadModels(); }
  }

  async function loadModels() {
    var data = await api("GET", "/trainer/api/models");
    $("live-model").textContent = data.live || "—";
    var body = $("history"); body.textContent = "";
    data.history.forEach(function (h) {
      var tr = el("tr");
      tr.appendChild(el("td", null, h.at.replace("T", " ").replace("Z", "")));
      tr.appendChild(el("td", null, h.model));
      tr.appendChild(el("td", null, h.by));
      tr.appendChild(el("td", null, h.rollback_of ? "回滚" : (h.override ? "管理员强制上线" : (h.job_id ? "训练 #" + h.job_id : "初始模型"))));
      body.appendChild(tr);
    });
  }

  $("train").addEventListener("click", async function () {
    $("train-error").textContent = "";
    try { var data = await api("POST", "/trainer/api/train", {}); showJob(data.job); pollJob(); }
    catch (e) { $("train-error").textContent = e.message; pollJob(); }
  });
  /* Putting a model live: the desk first waits for the bot's replies in flight (30 s at most), then Rasa
   * loads the model (120 s at most); the page waits longer than both, and says how it ended, whatever
   * happens (a refusal, a timeout, the network, a lost session): never a page left waiting. */
  var MODEL_WAIT_MS = 180000;
  async function modelAction(path, body, out) {
    out.textContent = "正在处理…（先等待机器人正在进行的回复完成，最长约 2 分钟）"; out.className = "";
    try {
      var data = await api("POST", path, body, { timeoutMs: MODEL_WAIT_MS, stay: true });
      if (!data || data.ok !== true || !data.message) throw new Error("服务器的回答无法识别");
      out.textContent = data.message; out.className = "ok";
    } catch (e) {
      out.textContent = "未完成：" + e.message + "（请刷新页面查看现在的线上模型）"; out.className = "error";
      if (e.status === 401) return;  // reading the models would jump to the log-in and hide the line
    }
    loadModels().catch(function () {});
  }
  $("activate").addEventListener("click", function () {
    if (!latestJob) return;
    modelAction("/trainer/api/jobs/" + latestJob.id + "/activate", { override: $("override").checked }, $("activate-msg"));
  });
  $("rollback").addEventListener("click", function () {
    modelAction("/trainer/api/rollback", {}, $("rollback-msg"));
  });

  /* --- tabs and start ------------------------------------------------------------------- */
  Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (button) {
    button.addEventListener("click", function () {
      Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) { b.classList.toggle("active", b === button); });
      ["inbox", "items", "train"].forEach(function (name) { $("tab-" + name).hidden = name !== button.getAttribute("data-tab"); });
      if (button.getAttribute("data-tab") === "items") loadItems();
      if (button.getAttribute("data-tab") === "train") { loadPending(); pollJob(); }
    });
  });
  $("inbox-filter").addEventListener("submit", function (ev) { ev.preventDefault(); inboxOffset = 0; loadInbox(); });
  $("inbox-prev").addEventListener("click", function () { inboxOffset = Math.max(0, inboxOffset - PAGE); loadInbox(); });
  $("inbox-next").addEventListener("click", function () { inboxOffset += PAGE; loadInbox(); });
  $("item-search").addEventListener("input", renderItems);
  $("logout").addEventListener("click", async function () { await api("POST", "/api/logout", {}).catch(function () {}); location.href = "/login"; });

  (async function start() {
    me = await api("GET", "/api/console/me");
    if (me.must_change) { location.href = "/console"; return; }
    $("me").textContent = me.name + "（" + (me.role === "admin" ? "管理员" : "训练员") + "）";
    vocab = await api("GET", "/trainer/api/vocabulary");
    $("notice").textContent = vocab.sample_notice;
    vocab.items.forEach(function (it) {
      titles[it.intent] = it.title;
      var o = el("option", null, it.title); o.value = it.id; $("f-item").appendChild(o);
    });
    Object.keys(vocab.languages || {}).forEach(function (code) {
      var o = el("option", null, vocab.languages[code]); o.value = code; o.lang = code; $("f-language").appendChild(o);
    });
    // A link from the reports' dashboard (/reports) opens the inbox filtered: ?filter=not_helpful&item=...
    var wanted = new URLSearchParams(location.search);
    if (wanted.get("filter")) $("f-filter").value = wanted.get("filter");
    if (wanted.get("item")) $("f-item").value = wanted.get("item");
    await loadInbox();
    pollJob();
  })();
})();
