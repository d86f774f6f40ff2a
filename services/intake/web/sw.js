// The inspector app's service worker (served as /app/sw.js, scope /app/).  Hand-written and small: it keeps
// the shell, the bundles, the code tables and the forms (contracts, layouts, the server's messages) so the
// app opens in a factory without signal.  Network first (a new release or form version is picked up when
// online), the cached copy when the network fails or is slower than a few seconds.  Nothing that needs the
// device's token is cached here: records and the open-hazards list live in IndexedDB, under the app's
// control.
const CACHE = "score-app-v1";
const SHELL = [
  "/app/",
  "/app/manifest.webmanifest",
  "/app/icon.svg",
  "/app/codes.json",
  "/app/messages.json",
  "/api/v1/forms",
  "/static/build/app.js",
  "/static/build/forms.css",
];
const TIMEOUT_MS = 4000;

// The forms' contracts and layouts: whatever versions the intake lists now.
async function formFiles() {
  const resp = await fetch("/api/v1/forms", { cache: "no-store" });
  const { forms } = await resp.json();
  return forms.flatMap((f) => {
    const v = Math.max(...f.versions);
    return [`/app/forms/${f.form}.v${v}.schema.json`, `/app/forms/${f.form}.v${v}.layout.json`];
  });
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll([...SHELL, ...(await formFiles())].map((u) => new Request(u, { cache: "no-store" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

function cacheable(url) {
  if (url.origin !== self.location.origin) return false;
  const p = url.pathname;
  if (p === "/app/me" || p === "/app/records" || p === "/app/sw.js") return false; // per credential, or the worker
  return p.startsWith("/app/") || p.startsWith("/static/build/") || p === "/api/v1/forms";
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  // the shell is one page whatever its query or fragment
  const key = new URL(request.url).pathname === "/app/" ? "/app/" : request;
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("slow network")), TIMEOUT_MS)),
    ]);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (e) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw e;
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || !cacheable(url)) return; // the API goes to the network as it is
  event.respondWith(networkFirst(event.request));
});
