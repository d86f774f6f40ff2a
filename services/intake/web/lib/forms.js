// The forms the intake accepts (GET /api/v1/forms), each drawn from its contract and its layout; the code
// tables and the server's message catalogue.  All are public documents the service worker keeps for
// offline use.
import { useMessages } from "./validate.js";

async function json(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${url}: ${resp.status}`);
  return resp.json();
}

// {form: {form, version, title, schema, layout}} for the newest version of each form
export async function loadForms(only = null) {
  const [catalogue, messages] = await Promise.all([json("/api/v1/forms"), json("/app/messages.json")]);
  useMessages(messages);
  const out = {};
  await Promise.all(
    catalogue.forms
      .filter((f) => !only || only.includes(f.form))
      .map(async (f) => {
        const version = Math.max(...f.versions);
        const base = `/app/forms/${f.form}.v${version}`;
        const [schema, layout] = await Promise.all([json(`${base}.schema.json`), json(`${base}.layout.json`)]);
        out[f.form] = { form: f.form, version, title: f.title, schema, layout };
      }),
  );
  return out;
}

export async function loadCodes() {
  return json("/app/codes.json");
}

// "2026-11-29T13:05:09+08:00": now, with the phone's own UTC offset (the contract wants one)
export function nowWithOffset(d = new Date()) {
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${sign}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`
  );
}

// Every photo id a body references (hazard photos, rectification photos): what must be uploaded first.
export function photoIds(value, out = []) {
  if (Array.isArray(value)) value.forEach((v) => photoIds(v, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "photos" && Array.isArray(v)) out.push(...v.filter((x) => typeof x === "string"));
      else photoIds(v, out);
    }
  }
  return out;
}
