/* Starts Swagger UI for areion-openapi.
 * The page passes its settings as data- attributes on #swagger-ui, so it carries no inline
 * script and works under a Content-Security-Policy of script-src 'self'. */
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  var data = node.dataset;
  window.ui = SwaggerUIBundle({
    url: data.openapiUrl,
    domNode: node,
    // Never send the document to the public validator (the page must work offline).
    validatorUrl: null,
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // BaseLayout has no top bar, so no URL box that would let the page load other documents.
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    oauth2RedirectUrl: new URL(data.oauth2RedirectUrl, window.location.href).href
  });
})();
