"use strict";
(function () {
  function matches(el, want) {
    var text = (want.text || "").toLowerCase();
    if (text && el.getAttribute("data-search").indexOf(text) < 0) { return false; }
    if (want.cause && el.getAttribute("data-cause") !== want.cause) { return false; }
    if (want.verdict && el.getAttribute("data-verdict") !== want.verdict) { return false; }
    return true;
  }
  // Shows only the hosts that match; returns how many are shown (also written to #shown).
  function pteguardFilter(want) {
    var shown = {};
    document.querySelectorAll("[data-host]").forEach(function (el) {
      var ok = matches(el, want);
      el.classList.toggle("hidden", !ok);
      if (ok) { shown[el.getAttribute("data-host")] = true; }
    });
    var count = Object.keys(shown).length;
    document.getElementById("shown").textContent = String(count);
    return count;
  }
  function current() {
    return {
      text: document.getElementById("q").value,
      cause: document.getElementById("cause").value,
      verdict: document.getElementById("verdict").value
    };
  }
  function fromHash() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    ["q", "cause", "verdict"].forEach(function (name) {
      if (params.has(name)) { document.getElementById(name).value = params.get(name); }
    });
    pteguardFilter(current());
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var descending = th.getAttribute("data-dir") !== "asc";
    th.setAttribute("data-dir", descending ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort") || a.cells[index].textContent;
      var y = b.cells[index].getAttribute("data-sort") || b.cells[index].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return descending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  window.pteguardFilter = pteguardFilter;
  document.addEventListener("DOMContentLoaded", function () {
    ["q", "cause", "verdict"].forEach(function (name) {
      document.getElementById(name).addEventListener("input", function () { pteguardFilter(current()); });
    });
    document.querySelectorAll("th.sortable").forEach(function (th) {
      th.addEventListener("click", function () { sortBy(th); });
    });
    window.addEventListener("hashchange", fromHash);
    fromHash();
  });
}());
