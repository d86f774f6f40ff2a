// The intake's API as the app uses it: bearer token, answers in the language the person reads.
import { acceptLanguage } from "./i18n.js";

export class Offline extends Error {}

export async function call(token, method, url, { json, body, type, lang } = {}) {
  const headers = { "Accept-Language": acceptLanguage(lang), Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (type) headers["Content-Type"] = type;
  let resp;
  try {
    resp = await fetch(url, { method, headers, body, cache: "no-store" });
  } catch (e) {
    throw new Offline(String(e)); // no answer: offline, or the connection dropped
  }
  let payload = null;
  try {
    payload = await resp.json();
  } catch {
    payload = null;
  }
  return { status: resp.status, body: payload };
}

// The server's refusal as field errors: [{path, code, message}] (message in the language asked for).
export function refusal(body) {
  const e = body?.error;
  if (!e) return [{ path: "", code: "error", message: "" }];
  if (Array.isArray(e.errors) && e.errors.length) return e.errors;
  return [{ path: "", code: e.code, message: e.message }];
}
