// The checks the browser makes before a record leaves the phone: what the published contract (JSON Schema)
// can tell, plus the rules the layout names that the server checks too (the GB 32100 check character,
// dates not after today in China, a deadline not before the inspection).  Worded with the server's own
// message catalogue (GET /app/messages.json), so a field reads the same whoever refused it.  The server
// stays the judge: what only it can know (personal numbers in text, stored records) comes back as its 422.
import { get, join, parts } from "./paths.js";
import { problem as usccProblem, problemZh as usccProblemZh, ALPHABET } from "./uscc.js";
import WORDS from "./words.json";

const USCC_PATTERN = `^[${ALPHABET}]{18}$`;
const NOT_BLANK = "\\S";

let catalogue = { messages: {}, today_in_china: { en: "today", zh: "今天" } };

export function useMessages(body) {
  catalogue = body;
}

const TYPES = WORDS.types;
const DATE_EXPECTED = WORDS.dateExpected;
const CHARS = WORDS.chars;
const ITEMS = WORDS.items;

// {en, zh} for `code` with `params` (a param may itself be {en, zh}), as services/intake/forms/errors.render
export function message(code, params = {}) {
  const [en, zh] = (() => {
    const m = catalogue.messages[code];
    return m ? [m.en, m.zh] : ["is not valid", "无效"];
  })();
  const fill = (template, l) =>
    template.replace(/\{(\w+)\}/g, (_, k) => {
      const v = params[k];
      return v != null && typeof v === "object" ? v[l] : String(v ?? "");
    });
  return { en: fill(en, "en"), zh: fill(zh, "zh") };
}

function err(out, path, code, params) {
  out.push({ path, code, message: message(code, params) });
}

function typeOf(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeOk(expected, value) {
  const t = typeOf(value);
  return [].concat(expected).some((e) => e === t || (e === "number" && t === "integer"));
}

export function dateExists(s) {
  if (!/^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/.test(s)) return false;
  const [y, m, d] = s.split("-").map(Number);
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

// Today in China (Asia/Shanghai), whatever zone the phone is set to: the server's day.
export function todayInChina(now = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

function matches(sub, value) {
  // The subset of `if` the contracts use: properties with const, and required.
  if (value == null || typeof value !== "object") return false;
  for (const k of sub.required || []) if (!(k in value)) return false;
  for (const [k, s] of Object.entries(sub.properties || {})) {
    if (k in value && "const" in s && value[k] !== s.const) return false;
  }
  return true;
}

function walk(schema, value, path, out) {
  if (!schema || value === undefined) return;
  if ("const" in schema && value !== schema.const) {
    err(out, path, "invalid_choice", { choices: String(schema.const) });
    return;
  }
  if (schema.type && !typeOk(schema.type, value)) {
    const t = [].concat(schema.type).find((x) => x !== "null");
    err(out, path, "invalid_type", { expected: TYPES[t] || TYPES.string });
    return;
  }
  if (value === null) return;
  if (schema.enum && !schema.enum.includes(value)) {
    err(out, path, "invalid_choice", { choices: schema.enum.join(", ") });
    return;
  }
  if (typeof value === "string") {
    const n = [...value].length;
    if (schema.pattern === USCC_PATTERN) {
      // the server's CreditCode: the check character, then a market-regulation (9) registration
      const p = usccProblem(value);
      if (p) err(out, path, "uscc", { detail: { en: p, zh: usccProblemZh(value) } });
      else if (!value.startsWith("9")) err(out, path, "uscc_not_enterprise", { authority: value[0] });
      return;
    }
    if (schema.format === "date") {
      if (!dateExists(value)) err(out, path, "invalid_format", { expected: DATE_EXPECTED });
      return;
    }
    if (schema.pattern === NOT_BLANK) {
      if (value.trim() === "") return err(out, path, "blank");
    } else if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
      return err(out, path, "invalid_format", {
        expected: { en: `a string matching ${schema.pattern}`, zh: `匹配 ${schema.pattern} 的字符串` },
      });
    }
    const min = schema.minLength ?? 0;
    const max = schema.maxLength ?? Infinity;
    if (n < min || n > max) err(out, path, "length", { min, max, actual: n, unit: CHARS });
    return;
  }
  if (typeof value === "number") {
    const lo = schema.minimum ?? -Infinity;
    const hi = schema.maximum ?? Infinity;
    if (value < lo || value > hi) err(out, path, "range", { min: schema.minimum, max: schema.maximum, actual: value });
    return;
  }
  if (Array.isArray(value)) {
    const min = schema.minItems ?? 0;
    const max = schema.maxItems ?? Infinity;
    if (value.length < min || value.length > max) err(out, path, "length", { min, max, actual: value.length, unit: ITEMS });
    if (schema.uniqueItems) {
      const seen = new Map();
      value.forEach((v, i) => {
        const k = JSON.stringify(v);
        if (seen.has(k)) err(out, join(path, i), "duplicate", { value: v, first: seen.get(k) });
        else seen.set(k, i);
      });
    }
    value.forEach((v, i) => walk(schema.items, v, join(path, i), out));
    return;
  }
  if (typeof value === "object") {
    for (const k of schema.required || []) {
      if (!(k in value)) err(out, join(path, k), "required");
    }
    for (const [k, v] of Object.entries(value)) walk(schema.properties?.[k], v, join(path, k), out);
    if (schema.if) {
      // "a hazard is required if and only if the result is fail", in the server's words
      if (matches(schema.if, value)) {
        for (const k of schema.then?.required || []) {
          if (!(k in value)) {
            replace(out, join(path, k), "hazard_required", {});
          }
        }
      } else {
        for (const k of schema.else?.not?.required || []) {
          if (k in value) err(out, join(path, k), "hazard_forbidden", { result: value.result });
        }
      }
    }
  }
}

function replace(out, path, code, params) {
  const i = out.findIndex((e) => e.path === path);
  if (i >= 0) out.splice(i, 1);
  err(out, path, code, params);
}

// Every path the layout's rule names: "data.items[*].hazard.deadline" -> the concrete paths present.
function expand(body, pattern) {
  let paths = [""];
  for (const seg of pattern.split(".")) {
    const next = [];
    const star = seg.endsWith("[*]");
    const key = star ? seg.slice(0, -3) : seg;
    for (const p of paths) {
      const here = join(p, key);
      if (star) {
        const arr = get(body, here);
        if (Array.isArray(arr)) arr.forEach((_, i) => next.push(join(here, i)));
      } else next.push(here);
    }
    paths = next;
  }
  return paths.filter((p) => get(body, p) !== undefined);
}

function applyRules(rules, body, out, now) {
  const today = todayInChina(now);
  for (const r of rules || []) {
    for (const p of expand(body, r.path)) {
      const v = get(body, p);
      if (typeof v !== "string" || !dateExists(v) || out.some((e) => e.path === p)) continue;
      if (r.rule === "not_after_today" && v > today) {
        err(out, p, "future_date", { latest: today, basis: catalogue.today_in_china, actual: v });
      } else if (r.rule === "not_before") {
        const other = get(body, r.other);
        if (typeof other === "string" && dateExists(other) && v < other) {
          err(out, p, r.code || "invalid", { [r.param || "other"]: other, actual: v });
        }
      }
    }
  }
}

// Every problem of `body` (a whole submission) as [{path, code, message: {en, zh}}], [] when none.
export function validate(schema, layout, body, now = new Date()) {
  const out = [];
  walk(schema, body, "", out);
  applyRules(layout.rules, body, out, now);
  return out;
}

export { parts };
