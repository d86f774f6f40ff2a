// Paths into a submission body, written as the server writes them: dots for fields, [i] for list indexes
// ("data.items[3].hazard.severity").  A path written with a dotted index ("data.items.3.hazard") means the
// same and is normalised to the server's form.

export function normalise(path) {
  return String(path || "").replace(/\.(\d+)(?=\.|$|\[)/g, "[$1]");
}

export function parts(path) {
  const out = [];
  for (const m of normalise(path).matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  }
  return out;
}

export function join(base, key) {
  if (typeof key === "number") return `${base}[${key}]`;
  return base ? `${base}.${key}` : String(key);
}

export function get(obj, path) {
  let cur = obj;
  for (const p of parts(path)) {
    if (cur == null) return undefined;
    cur = cur[p];
  }
  return cur;
}

// Set (or, with undefined, remove) the value at `path`, creating objects on the way.
export function set(obj, path, value) {
  const ps = parts(path);
  let cur = obj;
  for (let i = 0; i < ps.length - 1; i++) {
    if (cur[ps[i]] == null || typeof cur[ps[i]] !== "object") cur[ps[i]] = typeof ps[i + 1] === "number" ? [] : {};
    cur = cur[ps[i]];
  }
  const last = ps[ps.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

// The JSON Schema of the value at `path` (properties and items only: what the forms use).
export function schemaAt(schema, path) {
  let cur = schema;
  for (const p of parts(path)) {
    if (!cur) return undefined;
    cur = typeof p === "number" ? cur.items : cur.properties?.[p];
  }
  return cur;
}
