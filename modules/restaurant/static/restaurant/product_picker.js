// Product picker for menu items: type part of a name (any locale), choose a product by its name; its id goes into
// the hidden field just before the text field, which the form submits. A name that matches no suggestion is sent as
// typed (an id typed by hand works too). Rows added with "Add another" are cloned by the admin, so the hidden field
// and the suggestion list are found as siblings, not by id.
(function () {
  "use strict";
  var timers = {};
  function parts(field) {
    var hidden = field.previousElementSibling;
    var list = field.nextElementSibling;
    if (list && list.tagName === "DATALIST" && hidden && field.getAttribute("list") !== hidden.id + "_products") {
      list.id = hidden.id + "_products";
      field.setAttribute("list", list.id);
    }
    return {hidden: hidden, list: list};
  }
  function pick(field) {
    var p = parts(field);
    var chosen = null;
    if (p.list) {
      Array.prototype.forEach.call(p.list.options, function (option) {
        if (option.value === field.value) { chosen = option.dataset.id; }
      });
    }
    if (p.hidden) { p.hidden.value = chosen || field.value.trim(); }
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.matches || !field.matches("input[data-product-search]")) { return; }
    pick(field);
    var query = field.value.trim();
    var list = parts(field).list;
    if (!list || query.length < 2) { return; }
    clearTimeout(timers[list.id]);
    timers[list.id] = setTimeout(function () {
      var url = field.dataset.productSearch + "?q=" + encodeURIComponent(query);
      if (field.dataset.tenant) { url += "&tenant=" + encodeURIComponent(field.dataset.tenant); }
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
        list.innerHTML = "";
        (data.results || []).forEach(function (product) {
          var option = document.createElement("option");
          option.value = product.label;
          option.dataset.id = product.id;
          list.appendChild(option);
        });
        pick(field);
      });
    }, 200);
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[data-product-search]")) { pick(event.target); }
  });
})();
