// The interactive API page: Swagger UI (installed from npm by tasks.py, served from
// /static/vendor) draws /api/openapi.json and runs queries against this site. Without
// JavaScript, or without the package, the page keeps its plain list of endpoints.
document.addEventListener("DOMContentLoaded", function () {
  var target = document.getElementById("api-interactive");
  if (!target || typeof SwaggerUIBundle !== "function") return;
  target.hidden = false;
  SwaggerUIBundle({
    url: "/api/openapi.json",
    domNode: target,
    deepLinking: true,
    supportedSubmitMethods: ["get", "head"],
    validatorUrl: null, // never send the description to an outside validator
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true
  });
});
