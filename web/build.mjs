// Bundles the browser parts of each service with esbuild: every top-level .js or .css file in
// services/<service>/web/ is an entry point, written to services/<service>/entrypoints/static/build/
// (served by the service itself under /static/build/; no CDN: bureau networks are often closed).
// Files a service needs verbatim from a package (e.g. Swagger UI's prebuilt bundle) are listed in
// COPY. `make web` runs this after `npm ci`; the output is not committed.
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
// `--dev`: readable bundles (not minified) for debugging in the browser
const dev = process.argv.includes("--dev");

// service -> [package file, name under static/build/vendor/]
const COPY = {
  intake: [
    ["swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui-bundle.js"],
    ["swagger-ui-dist/swagger-ui.css", "swagger-ui.css"],
  ],
};

for (const service of readdirSync(join(root, "services"))) {
  const src = join(root, "services", service, "web");
  if (!existsSync(src)) continue;
  const out = join(root, "services", service, "entrypoints", "static", "build");
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const entries = readdirSync(src)
    .filter((f) => /\.(js|css)$/.test(f))
    .map((f) => join(src, f));
  if (entries.length) {
    await build({
      entryPoints: entries,
      outdir: out,
      bundle: true,
      format: "esm",
      target: ["chrome100", "safari15", "firefox100"],
      minify: !dev,
      sourcemap: true,
      logLevel: "warning",
    });
  }
  for (const [from, to] of COPY[service] ?? []) {
    mkdirSync(join(out, "vendor"), { recursive: true });
    cpSync(join(root, "node_modules", from), join(out, "vendor", to));
  }
  console.log(`web: ${service}: ${entries.length} entries -> ${out.slice(root.length)}`);
}
