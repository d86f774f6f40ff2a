// Swagger UI's initializer for /api/v1/docs, bundled by web/build.mjs into static/build/apidocs.js.
// A file of its own, not an inline script: the page's Content-Security-Policy runs only scripts that carry
// the response's nonce, and a separate file needs no exception. Swagger UI itself is the prebuilt bundle
// from the swagger-ui-dist package, copied to static/build/vendor/ (no CDN) and loaded before this module.
const root = document.getElementById("swagger-ui");

window.SwaggerUIBundle({
  url: root.dataset.spec, // the intake's own OpenAPI document
  domNode: root,
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // the named request examples come from schemas/examples (valid bodies only)
  defaultModelsExpandDepth: 0,
  docExpansion: "list",
  displayRequestDuration: true,
  // a bearer token typed into "Authorize" stays in this tab only
  persistAuthorization: false,
  // no call to swagger.io's online validator: bureau networks are often closed, and nothing leaves the site
  validatorUrl: null,
});
