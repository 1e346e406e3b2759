// Keyboard for the cash-application queue and workspace (a static file: the CSP allows no inline script).
(function () {
  "use strict";
  function items() { return Array.prototype.slice.call(document.querySelectorAll(".queue-item")); }
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function current() {
    var list = items();
    var active = document.activeElement && document.activeElement.closest && document.activeElement.closest(".queue-item");
    return active || list[0] || null;
  }
  function move(step) {
    var list = items();
    if (!list.length) { return; }
    var i = list.indexOf(current());
    var next = list[Math.max(0, Math.min(list.length - 1, i + step))];
    next.focus();
    next.scrollIntoView({block: "nearest"});
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "/" && !typing(e)) {
      var search = document.getElementById("invoice-search");
      if (search) { e.preventDefault(); search.focus(); }
      return;
    }
    if (typing(e)) { return; }
    var item = current();
    if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); move(1); }
    else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); move(-1); }
    else if (item && e.key === "a") { var a = item.querySelector(".js-accept"); if (a) { a.click(); } }
    else if (item && e.key === "r") { var r = item.querySelector(".js-reject"); if (r) { r.click(); } }
    else if (item && (e.key === "o" || e.key === "Enter")) { var o = item.querySelector(".js-open"); if (o) { o.click(); } }
  });
  // After an accepted card leaves the queue, keep the keyboard on the next one.
  document.addEventListener("htmx:afterSwap", function () { var list = items(); if (list.length && !document.activeElement.closest(".queue-item")) { list[0].focus(); } });
  document.addEventListener("click", function (e) {
    var remove = e.target.closest && e.target.closest(".js-remove-row");
    if (remove) { remove.closest("tr").remove(); }
  });
})();
