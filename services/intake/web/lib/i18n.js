// Chinese first, English on request: the choice is kept on the device (no identifier, just "zh" or "en").
// The pages' own words (buttons, states, help) live in words.json, one {zh, en} each, by page; "common" holds
// what both pages say.  Refusals are worded from the server's message catalogue (validate.js).
const KEY = "score.lang";
// The survey keeps even this for the tab only (sessionStorage): nothing of a worker outlives the answer.
let storage = globalThis.localStorage;

export function useStorage(s) {
  storage = s;
}

export function lang() {
  const chosen = storage.getItem(KEY);
  if (chosen === "zh" || chosen === "en") return chosen;
  return (navigator.language || "zh").toLowerCase().startsWith("en") ? "en" : "zh";
}

export function setLang(value) {
  storage.setItem(KEY, value);
  document.documentElement.lang = value === "en" ? "en" : "zh-CN";
}

// A {zh, en} text in the current language (the other one when it is missing).
export function tr(text, l = lang()) {
  if (text == null) return "";
  if (typeof text === "string") return text;
  return text[l] ?? text.zh ?? text.en ?? "";
}

// Accept-Language for requests: the server answers refusals in the language the person reads.
export function acceptLanguage(l = lang()) {
  return l === "en" ? "en" : "zh-CN";
}
