// Keyboard shortcuts of the review pages (no build step, nothing else):
// j / k: next / previous (the queue's rows, or the next / previous trajectory); Enter on a row opens it;
// 1 / 2 / 3: label failure / fine / informative; n: write a note. Keys typed into a field are left alone.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
  }
  var page = document.body.getAttribute("data-page");
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr"));
  var current = -1;
  function select(index) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("current", i === current); });
    rows[current].querySelector("a.row-link").focus();
  }
  function follow(id) {
    var link = document.getElementById(id);
    if (link) { window.location.href = link.href; }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      if (event.key === "Escape" && typing(event.target)) { event.target.blur(); }
      return;
    }
    var key = event.key;
    if (page === "queue" && (key === "j" || key === "k")) {
      var at = rows.indexOf(document.activeElement && document.activeElement.closest ? document.activeElement.closest("tr") : null);
      if (at < 0) { at = current; }
      select(key === "j" ? at + 1 : (at < 0 ? 0 : at - 1));
      event.preventDefault();
    } else if (page === "trajectory" && (key === "j" || key === "k")) {
      follow(key === "j" ? "next" : "prev");
      event.preventDefault();
    } else if (page === "trajectory" && (key === "1" || key === "2" || key === "3")) {
      var button = document.querySelector('#label-form button[data-key="' + key + '"]');
      if (button) { button.click(); event.preventDefault(); }
    } else if (page === "trajectory" && key === "n") {
      var note = document.getElementById("note");
      if (note) { note.focus(); event.preventDefault(); }
    }
  });
})();
