/* lowbit report: every table.lb-table sorts by a click on its header (numbers by the value in
   the cell's data-v, text otherwise; a second click reverses) and filters rows by the text box
   above it (every word must appear in the row). */
(function () {
  "use strict";
  document.querySelectorAll("table.lb-table").forEach(function (table) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var rows = Array.prototype.slice.call(body.rows);
    var box = document.createElement("input");
    box.type = "search";
    box.className = "lb-filter-box";
    box.placeholder = "filter " + rows.length + " rows (words, all must match)";
    var count = document.createElement("span");
    count.className = "lb-count";
    table.parentNode.insertBefore(box, table);
    table.parentNode.insertBefore(count, table);
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
      rows.forEach(function (r) {
        var t = r.textContent.toLowerCase();
        var ok = words.every(function (w) { return t.indexOf(w) >= 0; });
        r.style.display = ok ? "" : "none";
        if (ok) { shown++; }
      });
      count.textContent = words.length ? " " + shown + " of " + rows.length + " rows" : "";
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.title = "click to sort";
      th.addEventListener("click", function () {
        var dir = th.getAttribute("data-sort") === "asc" ? -1 : 1;
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", dir === 1 ? "asc" : "desc");
        var key = function (r) {
          var c = r.cells[col], v = c ? c.getAttribute("data-v") : null;
          return v !== null && v !== "" && !isNaN(Number(v)) ? Number(v) : (c ? c.textContent : "");
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (typeof x === "number" && typeof y === "number") { return dir * (x - y); }
          if (typeof x === "number") { return -1; }
          if (typeof y === "number") { return 1; }
          return dir * String(x).localeCompare(String(y), undefined, {numeric: true});
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
