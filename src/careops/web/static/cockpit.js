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
