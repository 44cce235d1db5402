// Product picker for menu items: type part of a name (any locale) and pick a product from the list.
(function () {
  "use strict";
  var timers = {};
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("input[data-product-search]")) { return; }
    var query = field.value.trim();
    var list = document.getElementById(field.getAttribute("list"));
    if (!list || query.length < 2) { return; }
    clearTimeout(timers[field.id]);
    timers[field.id] = setTimeout(function () {
      var url = field.dataset.productSearch + "?q=" + encodeURIComponent(query);
      if (field.dataset.tenant) { url += "&tenant=" + encodeURIComponent(field.dataset.tenant); }
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
        list.innerHTML = "";
        (data.results || []).forEach(function (product) {
          var option = document.createElement("option");
          option.value = product.id;
          option.label = product.label;
          option.textContent = product.label;
          list.appendChild(option);
        });
      });
    }, 200);
  });
})();
