// Progressive enhancement of the server-drawn charts: where JavaScript runs, a line chart over
// the years becomes an interactive uPlot chart (values follow the pointer). The SVG stays in the
// page for printing and without JavaScript; the table beside each chart holds the same values.
(function () {
  "use strict";
  if (!window.uPlot) {
    return;
  }
  function format(value, unit) {
    if (value === null || value === undefined) {
      return "—";
    }
    if (unit === "percent") {
      return (value * 100).toLocaleString("fr-FR", { minimumFractionDigits: 1, maximumFractionDigits: 1 }) + "\u00a0%";
    }
    return value.toLocaleString("fr-FR", { maximumFractionDigits: 2 });
  }
  document.querySelectorAll("figure.chart[data-chart]").forEach(function (figure) {
    var spec;
    try {
      spec = JSON.parse(figure.getAttribute("data-chart"));
    } catch (e) {
      return;
    }
    var years = spec.points.map(function (p) { return p[0]; });
    var values = spec.points.map(function (p) { return p[1]; });
    var series = [
      { label: "Année", value: function (u, v) { return v === null ? "" : String(v); } },
      {
        label: spec.label || "Valeur", stroke: "#00508c", width: 2.5, points: { size: 8 },
        value: function (u, v) { return format(v, spec.unit); },
      },
    ];
    var data = [years, values];
    if (spec.target !== null && spec.target !== undefined) {
      series.push({
        label: "Cible", stroke: "#a01c1c", dash: [6, 4], width: 1.5, points: { show: false },
        value: function (u, v) { return format(v, spec.unit); },
      });
      data.push(years.map(function () { return spec.target; }));
    }
    var holder = document.createElement("div");
    holder.className = "chart-interactive";
    var width = Math.max(280, Math.min(figure.clientWidth || 560, 560));
    new window.uPlot({
      width: width,
      height: 240,
      series: series,
      // values start from zero so that a small change does not look like a large one
      scales: {
        x: { time: false },
        y: { range: function (u, min, max) { return [0, Math.max(max, spec.target || 0) * 1.1 || 1]; } },
      },
      axes: [
        { values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) ? String(t) : ""; }); } },
        {
          // as wide as its longest label, so that no value on the axis is cut
          size: function (u, values) {
            var longest = (values || []).reduce(function (m, v) { return Math.max(m, String(v).length); }, 4);
            return Math.ceil(longest * 7.5) + 18;
          },
          values: function (u, ticks) { return ticks.map(function (t) { return format(t, spec.unit); }); },
        },
      ],
    }, data, holder);
    // The static chart gives way (display, not the hidden attribute: on an <svg> Chromium
    // ignores it); it stays in the page, its <title>s giving the values in words.
    var svg = figure.querySelector(":scope > svg");
    if (svg) {
      svg.style.display = "none";
    }
    figure.insertBefore(holder, figure.firstChild);
    figure.classList.add("is-interactive");
  });
})();
