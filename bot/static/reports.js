/* The reports' dashboard (/reports): figures of a date range against the previous period, charts
 * drawn by the vendored Apache ECharts, drill-down from a category to its items, CSV of every table.
 * Text only ever goes in as text nodes. Definitions come from the desk (bot/reports/figures.py). */
(function () {
  "use strict";
  var $ = DeskCommon.$, el = DeskCommon.el, me = null, data = null, charts = {};
  var api = DeskCommon.makeApi("/reports", function () { return me && me.csrf; });
  var FIGURES = ["conversations", "citizen_messages", "contained", "contained_rate", "handed_off", "handoff_rate",
    "abandoned", "helpful", "not_helpful", "helpful_share", "ratings", "average_rating"];
  var HEADERS = { conversations: "会话数", citizen_messages: "群众消息数", contained: "独立解决", contained_rate: "独立解决率",
    handed_off: "转人工", handoff_rate: "转人工率", abandoned: "等待中放弃", helpful: "有帮助", not_helpful: "没帮助",
    helpful_share: "有帮助占比", ratings: "评分数", average_rating: "平均评分" };
  // [key, name, kind, higher is better]
  var KPIS = [
    ["conversations", "会话数", "n", null], ["citizen_messages", "群众消息数", "n", null],
    ["contained_rate", "机器人独立解决率", "pct", true], ["handoff_rate", "转人工率", "pct", false],
    ["clarification_rate", "澄清率", "pct", false], ["fallback_rate", "未理解率", "pct", false],
    ["out_of_scope_rate", "超出范围率", "pct", false], ["first_reply_median_s", "首次人工回复（中位数）", "secs", false],
    ["first_reply_p90_s", "首次人工回复（第90百分位）", "secs", false], ["handling_median_s", "人工处理时长（中位数）", "secs", false],
    ["abandoned", "等待中放弃", "n", false], ["helpful_share", "有帮助占比", "pct", true],
    ["average_rating", "平均评分（1～5）", "n", true], ["low_ratings", "低评分（≤2星）", "n", false]
  ];

  function fmt(value, kind) {
    if (value === null || value === undefined) return "—";
    if (kind === "pct") return (value * 100).toFixed(1) + "%";
    if (kind === "secs") return value >= 60 ? (value / 60).toFixed(1) + " 分钟" : Math.round(value) + " 秒";
    return String(value);
  }

  // Today in Beijing (the figures' time zone), as a local date to count days from.
  function today() { var b = new Date(Date.now() + 8 * 3600e3); return new Date(b.getUTCFullYear(), b.getUTCMonth(), b.getUTCDate()); }
  function day(d) { return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0"); }
  function query() { return "since=" + $("since").value + "&until=" + $("until").value; }

  function setRange(kind) {
    var now = today(), first, last;
    if (kind === "this-month") { first = new Date(now.getFullYear(), now.getMonth(), 1); last = now; }
    else if (kind === "last-month") { first = new Date(now.getFullYear(), now.getMonth() - 1, 1); last = new Date(now.getFullYear(), now.getMonth(), 0); }
    else { first = new Date(now.getFullYear(), 0, 1); last = now; }
    $("since").value = day(first); $("until").value = day(last);
    load();
  }

  function reportLinks() {
    var month = $("report-month").value, year = $("report-year").value;
    $("month-html").href = "/reports/report?period=" + month; $("month-pdf").href = "/reports/report.pdf?period=" + month;
    $("year-html").href = "/reports/report?period=" + year; $("year-pdf").href = "/reports/report.pdf?period=" + year;
  }

  function csvLinks() {
    $("dimension-csv").href = "/reports/api/csv/" + $("dimension").value + "?" + query();
    $("unanswered-csv").href = "/reports/api/csv/unanswered?" + query();
    $("not-helpful-csv").href = "/reports/api/csv/not_helpful_items?" + query();
    $("summary-csv").href = "/reports/api/csv/summary?" + query();
  }

  function kpis() {
    var box = $("kpis"); box.textContent = "";
    var now = data.summary, before = data.previous.summary;
    KPIS.forEach(function (k) {
      var card = el("div", "kpi"); card.setAttribute("data-kpi", k[0]);
      card.appendChild(el("div", "name", k[1]));
      card.appendChild(el("div", "value", fmt(now[k[0]], k[2])));
      var prev = el("div", "prev", "上期 " + fmt(before[k[0]], k[2]));
      if (typeof now[k[0]] === "number" && typeof before[k[0]] === "number" && k[3] !== null && now[k[0]] !== before[k[0]]) {
        var better = (now[k[0]] > before[k[0]]) === k[3];
        prev.appendChild(el("span", better ? "up" : "down", better ? " ▲ 改善" : " ▼ 变差"));
      }
      card.appendChild(prev);
      box.appendChild(card);
    });
  }

  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init($(id));
    return charts[id];
  }

  function drawCharts() {
    var days = data.breakdowns.day;
    chart("chart-trend").setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 40, right: 16, top: 30, bottom: 30 },
      xAxis: { type: "category", data: days.map(function (r) { return r.key; }) }, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "会话", type: "line", data: days.map(function (r) { return r.conversations; }) },
        { name: "独立解决", type: "line", data: days.map(function (r) { return r.contained; }) },
        { name: "转人工", type: "line", data: days.map(function (r) { return r.handed_off; }) }
      ]
    }, true);
    var cats = data.breakdowns.category;
    var byCategory = chart("chart-category");
    byCategory.setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 40, right: 16, top: 30, bottom: 50 },
      xAxis: { type: "category", data: cats.map(function (r) { return r.label; }), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "会话", type: "bar", data: cats.map(function (r) { return r.conversations; }) },
        { name: "转人工", type: "bar", data: cats.map(function (r) { return r.handed_off; }) }
      ]
    }, true);
    byCategory.off("click");
    byCategory.on("click", function (params) { var row = cats[params.dataIndex]; if (row) drill(row.key, row.label); });
    var reasons = data.summary.handoff_by_reason;
    chart("chart-reasons").setOption({
      tooltip: { trigger: "item" },
      series: [{ type: "pie", radius: "65%", data: Object.keys(reasons).map(function (k) { return { name: data.reason_names[k] || k, value: reasons[k] }; }) }]
    }, true);
    var hours = {}; data.breakdowns.hour.forEach(function (r) { hours[r.key] = r.conversations; });
    var keys = []; for (var h = 0; h < 24; h++) keys.push(String(h).padStart(2, "0"));
    chart("chart-hour").setOption({
      tooltip: { trigger: "axis" }, grid: { left: 40, right: 16, top: 16, bottom: 30 },
      xAxis: { type: "category", data: keys }, yAxis: { type: "value", minInterval: 1 },
      series: [{ name: "会话", type: "bar", data: keys.map(function (k) { return hours[k] || 0; }) }]
    }, true);
  }

  function table(node, header, rows) {
    node.textContent = "";
    var head = el("tr"); header.forEach(function (h) { head.appendChild(el("th", null, h)); }); node.appendChild(head);
    rows.forEach(function (cells) {
      var tr = el("tr");
      cells.forEach(function (c) {
        var td = el("td", typeof c === "number" ? "n" : null);
        if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "—" : String(c);
        tr.appendChild(td);
      });
      node.appendChild(tr);
    });
    if (!rows.length) { var tr = el("tr"); var td = el("td", "muted", "没有数据"); td.colSpan = header.length; tr.appendChild(td); node.appendChild(tr); }
  }

  function figureCells(row) {
    return FIGURES.map(function (name) {
      var v = row[name];
      return /_rate$|_share$/.test(name) ? fmt(v, "pct") : v;
    });
  }

  function breakdownTable() {
    var rows = data.breakdowns[$("dimension").value] || [];
    table($("breakdown"), [data.dimension_names[$("dimension").value]].concat(FIGURES.map(function (f) { return HEADERS[f]; })),
      rows.map(function (r) { return [r.label].concat(figureCells(r)); }));
    csvLinks();
  }

  // Links into the trainer's inbox only for those who may open it (the admin; a supervisor may not).
  function inboxLink(href) {
    if (!me || me.role !== "admin") return "";
    var a = el("a", "inbox-link", "收件箱"); a.href = href; return a;
  }

  function lists() {
    table($("unanswered"), ["问题（已脱敏）", "次数", "例句（已脱敏）"], data.unanswered.map(function (r) {
      return [r.question, r.count, r.examples.join("；")];
    }));
    table($("not-helpful"), ["事项", "没帮助次数", "原因", "问题举例（已脱敏）", ""], data.not_helpful_items.map(function (r) {
      var reasons = Object.keys(r.reasons).map(function (k) { return (data.not_helpful_names[k] || "未说明") + " " + r.reasons[k]; }).join("，");
      return [r.title, r.count, reasons, r.examples.join("；"), inboxLink("/trainer?filter=not_helpful&item=" + encodeURIComponent(r.item))];
    }));
    var list = $("comments"); list.textContent = "";
    data.comments.forEach(function (c) { list.appendChild(el("li", null, "★".repeat(c.score) + " " + c.comment)); });
    if (!data.comments.length) list.appendChild(el("li", "muted", "没有留言"));
    Array.prototype.forEach.call(document.querySelectorAll("a.inbox-link[href^='/trainer']"), function (a) { a.hidden = !me || me.role !== "admin"; });
  }

  async function drill(category, label) {
    var reply = await api("GET", "/reports/api/figures?" + query() + "&category=" + encodeURIComponent(category));
    var items = reply.drill.items;
    $("drill").hidden = false; $("drill-name").textContent = label;
    chart("chart-drill").setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 40, right: 16, top: 30, bottom: 60 },
      xAxis: { type: "category", data: items.map(function (r) { return r.label; }), axisLabel: { interval: 0, rotate: 20 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "会话", type: "bar", data: items.map(function (r) { return r.conversations; }) },
        { name: "没帮助", type: "bar", data: items.map(function (r) { return r.not_helpful; }) }
      ]
    }, true);
    table($("drill-table"), ["事项"].concat(FIGURES.map(function (f) { return HEADERS[f]; })),
      items.map(function (r) { return [r.label].concat(figureCells(r)); }));
    $("drill").scrollIntoView();
  }

  async function load() {
    data = await api("GET", "/reports/api/figures?" + query());
    $("period").textContent = "统计期 " + data.period.label + "，对比 " + data.previous.period.label + "（北京时间）";
    kpis(); drawCharts(); breakdownTable(); lists(); csvLinks();
    document.body.setAttribute("data-loaded", data.period.start + "/" + data.period.last);
  }

  function definitions(defs) {
    var dl = $("definitions"); dl.textContent = "";
    Object.keys(defs).forEach(function (k) { dl.appendChild(el("dt", null, k)); dl.appendChild(el("dd", null, defs[k])); });
  }

  async function changePassword() {
    return new Promise(function (resolve) {
      var dialog = $("pw-dialog"); dialog.showModal();
      $("pw-form").addEventListener("submit", async function (ev) {
        ev.preventDefault();
        try { await api("POST", "/api/console/password", { old: $("pw-old").value, new: $("pw-new").value }); dialog.close(); resolve(); }
        catch (e) { $("pw-error").textContent = e.message; }
      });
    });
  }

  $("range").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  Array.prototype.forEach.call(document.querySelectorAll("[data-range]"), function (b) {
    b.addEventListener("click", function () { setRange(b.getAttribute("data-range")); });
  });
  $("dimension").addEventListener("change", breakdownTable);
  $("drill-close").addEventListener("click", function () { $("drill").hidden = true; });
  $("report-month").addEventListener("change", reportLinks);
  $("report-year").addEventListener("change", reportLinks);
  $("logout").addEventListener("click", async function () { await api("POST", "/api/logout", {}).catch(function () {}); location.href = "/login"; });
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });

  (async function start() {
    me = await api("GET", "/api/console/me");
    if (me.must_change) { await changePassword(); me = await api("GET", "/api/console/me"); }
    $("me").textContent = me.name + "（" + (me.role === "admin" ? "管理员" : "督导，只读") + "）";
    var wanted = new URLSearchParams(location.search), now = today();
    if (wanted.get("since") && wanted.get("until")) { $("since").value = wanted.get("since"); $("until").value = wanted.get("until"); }
    else { $("since").value = day(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 29)); $("until").value = day(now); }
    $("report-month").value = day(now).slice(0, 7); $("report-year").value = now.getFullYear();
    ["item", "category", "department", "site", "country", "language", "hour", "day", "month"].forEach(function (k) {
      var o = el("option", null, k); o.value = k; $("dimension").appendChild(o);
    });
    $("dimension").value = "department";
    reportLinks();
    await load();
    Object.keys(data.dimension_names).forEach(function (k) {
      var o = $("dimension").querySelector("option[value='" + k + "']"); if (o) o.textContent = data.dimension_names[k];
    });
    definitions(data.definitions);
  })();
})();
