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
