/* The bookings page: one place's day (local time), arrivals, cancellations with a reason, exports,
 * and an admin's settings of the place. Text is set as text, never HTML. */
"use strict";
(function () {
  var $ = DeskCommon.$, el = DeskCommon.el;
  var me = null, places = [];
  var api = DeskCommon.makeApi("/console/bookings", function () { return me && me.csrf; });
  var STATUS = { booked: "已预约", arrived: "已到场", done: "已办结", no_show: "未到场", cancelled: "已取消" };
  var MODE = { video: "视频", in_person: "到场" };

  function place() { return places.find(function (p) { return p.id === $("place").value; }); }
  function query() { return "?place=" + encodeURIComponent($("place").value) + "&day=" + encodeURIComponent($("day").value); }

  var newest = DeskCommon.newestOnly();
  async function load() {
    $("error").textContent = "";
    var current = newest();
    $("csv").href = "/api/console/bookings.csv" + query();
    $("ics").href = "/api/console/bookings.ics" + query();
    var p = place(); $("zone").textContent = p ? "时区 " + p.timezone : "";
    var data;
    try { data = await api("GET", "/api/console/bookings" + query()); }
    catch (e) { if (current()) $("error").textContent = e.message; return; }
    if (!current()) return;
    var body = $("list").querySelector("tbody"); body.textContent = "";
    data.bookings.forEach(function (b) { body.appendChild(row(b)); });
    $("empty").hidden = data.bookings.length > 0;
    showSettings();
  }

  function row(b) {
    var tr = el("tr", b.status === "cancelled" ? "cancelled" : null);
    tr.dataset.code = b.code;
    [b.local_time.slice(11), b.code, b.name, b.item_title, MODE[b.mode] || b.mode, b.contact,
     STATUS[b.status] + (b.cancel_reason ? "（" + b.cancel_reason + "）" : "")].forEach(function (v) { tr.appendChild(el("td", null, v)); });
    var td = el("td", "actions");
    if (b.status !== "cancelled") {
      [["arrived", "到场"], ["done", "办结"], ["no_show", "未到"]].forEach(function (s) {
        if (b.status === s[0]) return;
        var button = el("button", null, s[1]); button.type = "button"; button.dataset.status = s[0];
        button.addEventListener("click", function () { mark(b.code, s[0]); });
        td.appendChild(button);
      });
      var cancel = el("button", "danger", "取消"); cancel.type = "button"; cancel.dataset.action = "cancel";
      cancel.addEventListener("click", function () { askCancel(b.code); });
      td.appendChild(cancel);
    }
    tr.appendChild(td);
    return tr;
  }

  async function mark(code, status) {
    try { await api("POST", "/api/console/bookings/" + encodeURIComponent(code) + "/status", { status: status }); await load(); }
    catch (e) { $("error").textContent = e.message; }
  }

  function askCancel(code) {
    $("cancel-code").textContent = code; $("cancel-reason").value = "";
    var dialog = $("cancel-dialog");
    dialog.onclose = async function () {
      if (dialog.returnValue !== "ok") return;
      try { await api("POST", "/api/console/bookings/" + encodeURIComponent(code) + "/cancel", { reason: $("cancel-reason").value }); await load(); }
      catch (e) { $("error").textContent = e.message; }
    };
    dialog.showModal();
  }

  function showSettings() {
    var p = place(); $("settings").hidden = !(me && me.role === "admin" && p);
    if ($("settings").hidden) return;
    $("capacity").value = p.capacity; $("slot-minutes").value = p.slot_minutes;
    $("hours").value = JSON.stringify(p.hours); $("closures").value = p.closures.join(", ");
  }

  async function saveSettings() {
    var p = place(); $("settings-result").textContent = "";
    try {
      var closures = $("closures").value.split(/[,，\s]+/).filter(Boolean);
      await api("POST", "/api/console/places/" + encodeURIComponent(p.id), {
        capacity: parseInt($("capacity").value, 10), slot_minutes: parseInt($("slot-minutes").value, 10),
        hours: JSON.parse($("hours").value), closures: closures });
      $("settings-result").textContent = "已保存";
      places = (await api("GET", "/api/console/places")).places; showSettings();
    } catch (e) { $("settings-result").textContent = e.message; }
  }

  // The clerks' online desk's hours (bot/clerk_hours.py): admins only, applied at once.
  var COUNTRIES = { CN: "中国", FR: "法国", IT: "意大利", ZA: "南非", AE: "阿联酋" };
  function showClerkHours(h) {
    $("clerk-zone").textContent = h.timezone;
    $("clerk-hours-text").value = h.hours; $("clerk-closures").value = h.closures.join(", ");
    var select = $("clerk-holidays");
    if (select.options.length === 1) h.holiday_countries.forEach(function (c) {
      var o = el("option", null, (COUNTRIES[c] || c) + "法定节假日"); o.value = c; select.appendChild(o);
    });
    select.value = h.holidays || "";
    $("clerk-hours-result").textContent = "现在" + (h.staffed_now ? "是" : "不是") + "工作时间；下次上线：" + h.next_opening +
      "（" + h.timezone + "）；群众看到：" + h.shown + (h.customised ? "（已修改）" : "（默认）");
  }

  async function saveClerkHours(reset) {
    try {
      var body = reset ? { reset: true } : {
        hours: $("clerk-hours-text").value, holidays: $("clerk-holidays").value || null,
        closures: $("clerk-closures").value.split(/[,，\s]+/).filter(Boolean) };
      showClerkHours(await api("POST", "/api/console/clerk-hours", body));
      $("clerk-hours-result").textContent = "已保存。" + $("clerk-hours-result").textContent;
    } catch (e) { $("clerk-hours-result").textContent = e.message; }
  }

  async function start() {
    me = await api("GET", "/api/console/me");
    $("me").textContent = me.name;
    places = (await api("GET", "/api/console/places")).places;
    places.forEach(function (p) { var o = el("option", null, p.name); o.value = p.id; $("place").appendChild(o); });
    var params = new URLSearchParams(location.search);
    if (params.get("place")) $("place").value = params.get("place");
    $("day").value = params.get("day") || new Date().toISOString().slice(0, 10);
    $("day-form").addEventListener("submit", function (e) { e.preventDefault(); load(); });
    $("place").addEventListener("change", load);
    $("save-settings").addEventListener("click", saveSettings);
    if (me.role === "admin") {
      $("clerk-hours").hidden = false;
      $("save-clerk-hours").addEventListener("click", function () { saveClerkHours(false); });
      $("reset-clerk-hours").addEventListener("click", function () { saveClerkHours(true); });
      showClerkHours(await api("GET", "/api/console/clerk-hours"));
    }
    await load();
  }
  start();
})();
