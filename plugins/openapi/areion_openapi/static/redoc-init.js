/* Starts ReDoc for areion-openapi.
 * Settings come from data- attributes on #redoc, so the page carries no inline script and
 * works under a Content-Security-Policy of script-src 'self'. */
(function () {
  "use strict";
  var node = document.getElementById("redoc");
  Redoc.init(node.dataset.openapiUrl, { expandResponses: "200,201" }, node);
})();
