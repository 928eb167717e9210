"use strict";
// Live preview of a preset being edited: posts the form's values (never saves) and shows the result.
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  function describe(info) {
    return info.width + "×" + info.height + " " + info.format.toUpperCase() + ", " + info.bytes.toLocaleString() + " bytes";
  }
  ready(function () {
    var panel = document.getElementById("iv-preview");
    if (!panel) return;
    var form = panel.closest("form");
    var select = document.getElementById("iv-preview-source");
    var errors = document.getElementById("iv-preview-errors");
    var timer = null, seq = 0;

    function showErrors(list) {
      errors.innerHTML = "";
      list.forEach(function (text) { var li = document.createElement("li"); li.textContent = text; errors.appendChild(li); });
      errors.hidden = list.length === 0;
    }

    function refresh() {
      var data = new FormData(form);
      data.set("object_id", panel.dataset.objectId || "");
      data.set("source", select.value);
      var mine = ++seq;
      panel.setAttribute("aria-busy", "true");
      fetch(panel.dataset.url, { method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.json().then(function (body) { return [response.status, body]; }); })
        .then(function (result) {
          if (mine !== seq) return;  // a newer request is on its way
          var body = result[1];
          if (body.errors) {
            var messages = [];
            Object.keys(body.errors).forEach(function (field) {
              body.errors[field].forEach(function (e) { messages.push((field === "__all__" ? "" : field + ": ") + e.message); });
            });
            showErrors(messages);
            return;
          }
          showErrors([]);
          document.getElementById("iv-original").src = body.original.url;
          document.getElementById("iv-original-info").textContent = describe(body.original);
          document.getElementById("iv-variant").src = body.variant.url;
          document.getElementById("iv-variant-info").textContent = describe(body.variant);
          panel.dataset.variantWidth = body.variant.width;
        })
        .catch(function (error) { if (mine === seq) showErrors([String(error)]); })
        .finally(function () { if (mine === seq) panel.removeAttribute("aria-busy"); });
    }

    function schedule() { clearTimeout(timer); timer = setTimeout(refresh, 250); }
    form.addEventListener("input", function (event) { if (event.target !== select) schedule(); });
    form.addEventListener("change", function (event) { if (event.target !== select) schedule(); });
    select.addEventListener("change", refresh);
    document.getElementById("iv-preview-refresh").addEventListener("click", refresh);
    refresh();
  });
})();
