/* CareOps cockpit: draws the charts whose ECharts options the page carries as JSON. */
(function () {
  "use strict";
  function draw() {
    var block = document.getElementById("chart-options");
    if (!block || typeof echarts === "undefined") { return; }
    var options = JSON.parse(block.textContent);
    Object.keys(options).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) { return; }
      var chart = echarts.init(el);
      chart.setOption(options[id]);
      window.addEventListener("resize", function () { chart.resize(); });
    });
    document.body.setAttribute("data-charts", "drawn");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
/* The segment page: save the rule as it stands in the box (not as it was last counted). */
(function () {
  "use strict";
  var form = document.getElementById("save-form");
  var box = document.getElementById("rule");
  var field = document.getElementById("save-rule");
  if (!form || !box || !field) { return; }
  form.addEventListener("submit", function () { field.value = box.value; });
})();
/* The segment page's visual editor: one condition (tag, operator, value) joined to the rule
   in the box with and/or, written in the rule language itself, then counted like typing. */
(function () {
  "use strict";
  var add = document.getElementById("ve-add");
  var box = document.getElementById("rule");
  if (!add || !box) { return; }
  var tag = document.getElementById("ve-tag");
  var op = document.getElementById("ve-op");
  var value = document.getElementById("ve-value");
  var join = document.getElementById("ve-join");
  function typeOf() {
    var o = tag.options[tag.selectedIndex];
    return o ? o.getAttribute("data-type") : "";
  }
  function sync() {
    var list = document.getElementById("ve-values-" + tag.value);
    value.setAttribute("list", list ? list.id : "ve-values-none");
    value.placeholder = typeOf() === "bool" ? "true / false" : "";
  }
  tag.addEventListener("change", sync);
  sync();
  add.addEventListener("click", function () {
    var kind = typeOf();
    var v = value.value.trim();
    var literal;
    if (kind === "int" || kind === "float") {
      if (!/^-?\d+(\.\d+)?$/.test(v)) { value.focus(); return; }
      literal = v;
    } else if (kind === "bool") {
      literal = v === "false" ? "false" : "true";
    } else {
      literal = "\"" + v.replace(/\\/g, "\\\\").replace(/"/g, "\\\"") + "\"";
    }
    var condition = tag.value + " " + op.value + " " + literal;
    var current = box.value.trim();
    box.value = current ? current + " " + join.value + " " + condition : condition;
    box.dispatchEvent(new Event("rule-edited"));
  });
})();
