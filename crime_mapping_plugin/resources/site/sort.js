/* Sort the tables marked "sortable" by a column when its heading's button is pressed. Without JavaScript
   they stay plain tables in name order; with it, each column heading becomes a button and says with
   aria-sort which way the rows are sorted. Cells may hold their sortable value in data-value. */
(function () {
  "use strict";

  function sortKey(cell, type) {
    var value = cell.getAttribute("data-value");
    if (value === null) {
      value = cell.textContent.trim();
    }
    if (type === "number") {
      var number = parseFloat(value);
      return isNaN(number) ? null : number;
    }
    return value === "" ? null : value;
  }

  function sortBy(table, headers, index) {
    var header = headers[index];
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var type = header.getAttribute("data-type") || "text";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a.cells[index], type);
      var y = sortKey(b.cells[index], type);
      if (x === null || y === null) {
        return x === y ? 0 : (x === null ? 1 : -1); // rows without a value last, either way
      }
      var order = type === "number" ? x - y : x.localeCompare(y, "en", { sensitivity: "base", numeric: true });
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) {
      return;
    }
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headers.forEach(function (header, index) {
      var button = document.createElement("button");
      button.type = "button";
      while (header.firstChild) {
        button.appendChild(header.firstChild);
      }
      header.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, headers, index); });
    });
    if (table.caption) {
      var hint = document.createElement("span");
      hint.className = "sort-hint";
      hint.textContent = " (select a column heading to sort by it)";
      table.caption.appendChild(hint);
    }
  });
})();
