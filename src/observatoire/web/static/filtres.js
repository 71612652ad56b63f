/* On a narrow screen, an explorer's filter form shows its first fields and the filters in use;
   the others fold behind one button, so the results start on the first screen. Without
   JavaScript, or on a wide screen, every field stays shown. A form opts in with
   data-plier="N", N being the number of fields always shown. */
(function () {
  "use strict";
  var narrow = window.matchMedia("(max-width: 40em)");

  function inUse(label) {
    var field = label.querySelector("input, select");
    if (!field) { return true; }
    // a select's first option is its "all" (or default sort); a text field is in use when filled
    return field.tagName === "SELECT" ? field.selectedIndex > 0 : field.value.trim() !== "";
  }

  function setUp(form) {
    var keep = parseInt(form.getAttribute("data-plier"), 10) || 0;
    var labels = Array.prototype.filter.call(form.children, function (el) {
      return el.tagName === "LABEL";
    });
    var folded = labels.slice(keep).filter(function (label) { return !inUse(label); });
    if (!folded.length) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "filters-more";
    function show(open) {
      folded.forEach(function (label) { label.hidden = !open; });
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "Moins de filtres"
        : "Plus de filtres (" + folded.length + ")";
    }
    button.addEventListener("click", function () {
      show(button.getAttribute("aria-expanded") !== "true");
    });
    form.insertBefore(button, form.querySelector("button[type=submit]"));
    function fit() {
      button.hidden = !narrow.matches;
      show(!narrow.matches);
    }
    narrow.addEventListener("change", fit);
    fit();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.filters[data-plier]").forEach(setUp);
  });
}());
