// The inspector app (/app/): factory inspections and hazard rectifications, offline first.
//
// Sign-in is the device token (pasted, or an enrollment link /app/#device=<token>), kept in IndexedDB.
// Every record gets its submission_id here, when it is started, and is saved as it is typed; "send" queues
// it; the sync step (lib/sync.js) delivers the queue when the network is there.  Screens are hash routes:
// #home, #form/<id>, #hazards, #records, #signin.
import { h } from "./lib/dom.js";
import { lang, setLang, tr } from "./lib/i18n.js";
import { call, Offline } from "./lib/api.js";
import {
  allRecords, deletePhoto, deleteRecord, getPhoto, getRecord, kvDelete, kvGet, kvSet, putPhoto, putRecord,
} from "./lib/db.js";
import { loadCodes, loadForms, nowWithOffset, photoIds } from "./lib/forms.js";
import { renderForm } from "./lib/render.js";
import { score } from "./lib/score.js";
import { sync } from "./lib/sync.js";
import { todayInChina } from "./lib/validate.js";
import WORDS from "./lib/words.json";

const T = { ...WORDS.common, ...WORDS.app };
const STATE = WORDS.recordState;
const SEVERITY = WORDS.severity;
const REVIEW = WORDS.review;

const app = {
  token: null,
  me: null,
  forms: {},
  codes: null,
  hazards: null, // {fetched_at, list}
  remembered: {},
};
const main = () => document.getElementById("main");

// --- start ---------------------------------------------------------------------------------------------------
async function start() {
  setLang(lang());
  await enrollment();
  app.token = (await kvGet("token")) || null;
  app.me = (await kvGet("me")) || null;
  app.hazards = (await kvGet("hazards")) || null;
  app.remembered = (await kvGet("remembered")) || {};
  header();
  main().replaceChildren(h("p", { class: "muted" }, tr(T.loading)));
  try {
    [app.forms, app.codes] = await Promise.all([loadForms(["factory_inspection", "hazard_rectification"]), loadCodes()]);
  } catch {
    main().replaceChildren(h("p", { class: "error" }, tr(T.cannotLoad)));
    return;
  }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
  window.addEventListener("hashchange", route);
  window.addEventListener("online", () => {
    header();
    flush();
  });
  window.addEventListener("offline", header);
  setInterval(flush, 10000); // "online" is not reliable on phones: try again while something waits
  if (app.token) await whoAmI();
  route();
  flush();
}

// An enrollment link (/app/#device=<token>, printed by `score run` and `score tokens create --kind device`):
// keep the token on the phone and take it out of the address bar and the history.
async function enrollment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("device")?.trim();
  if (!token) return false;
  await kvSet("token", token);
  app.token = token;
  history.replaceState(null, "", "/app/#home");
  return true;
}

async function whoAmI() {
  try {
    const { status, body } = await call(app.token, "GET", "/app/me");
    if (status === 200) {
      app.me = body;
      await kvSet("me", body);
    } else if (status === 401) {
      app.me = null;
      await kvDelete("me");
      return false;
    }
  } catch (e) {
    if (!(e instanceof Offline)) throw e;
  }
  return true;
}

let flushing = false;
async function flush() {
  if (!app.token || flushing) return;
  flushing = true;
  try {
    await sync(app.token, () => redrawRecords());
    await refreshReviews();
  } finally {
    flushing = false;
    redrawRecords();
  }
}

// The review status of this device's accepted records (GET /app/records: only its own account's).
async function refreshReviews() {
  const accepted = (await allRecords()).filter((r) => r.state === "accepted");
  for (let i = 0; i < accepted.length; i += 100) {
    const chunk = accepted.slice(i, i + 100);
    let answer;
    try {
      answer = await call(app.token, "GET", `/app/records?ids=${chunk.map((r) => r.id).join(",")}`);
    } catch {
      return;
    }
    if (answer.status !== 200) return;
    for (const found of answer.body.records) {
      const r = chunk.find((x) => x.id === found.submission_id);
      if (!r || !found.found) continue;
      r.review = found.review;
      r.current = found.current;
      r.superseded_by = found.superseded_by;
      await putRecord(r);
    }
  }
}

// --- frame --------------------------------------------------------------------------------------------------
function header() {
  const bar = document.getElementById("bar");
  const online = navigator.onLine;
  const toggle = h("button", { type: "button", class: "lang", lang: lang() === "zh" ? "en" : "zh-CN" }, tr(T.other));
  toggle.addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    header();
    route();
  });
  bar.replaceChildren(
    h("a", { href: "#home", class: "brand" }, tr(T.app)),
    h("span", { class: `net ${online ? "on" : "off"}`, role: "status" }, online ? tr(T.online) : tr(T.offline)),
    toggle,
  );
  document.title = tr(T.app);
}

async function route() {
  if (await enrollment()) {
    await whoAmI();
    flush();
  }
  const [name, arg] = location.hash.slice(1).split("/");
  if (!app.token && name !== "signin") {
    location.hash = "#signin";
    return;
  }
  window.scrollTo(0, 0);
  if (name === "signin") return signin();
  if (name === "form" && arg) return formScreen(arg);
  if (name === "new" && arg) return newRecord(arg);
  if (name === "hazards") return hazardsScreen();
  if (name === "records") return recordsScreen();
  return home();
}

// --- screens ------------------------------------------------------------------------------------------------
function signin(problem = null) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "token-help" });
  const form = h("form", { class: "card" },
    h("h1", {}, tr(T.signin)),
    problem ? h("p", { class: "error", role: "alert" }, problem) : null,
    h("div", { class: "field" }, h("label", { for: "token" }, tr(T.tokenLabel)), h("p", { class: "help", id: "token-help" }, tr(T.tokenHelp)), input),
    h("button", { type: "submit", class: "button primary" }, tr(T.signinButton)));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    app.token = input.value.trim();
    await kvSet("token", app.token);
    if (!(await whoAmI())) {
      app.token = null;
      await kvDelete("token");
      return signin(tr(T.badToken));
    }
    location.hash = "#home";
  });
  main().replaceChildren(form);
}

async function home() {
  const records = await allRecords();
  const drafts = records.filter((r) => r.state === "draft");
  const waiting = records.filter((r) => r.state === "queued" || r.state === "sent").length;
  const fixing = records.filter((r) => r.state === "needs_fixing").length;
  const out = h("button", { type: "button", class: "button link" }, tr(T.signout));
  out.addEventListener("click", async () => {
    await kvDelete("token");
    await kvDelete("me");
    app.token = null;
    app.me = null;
    location.hash = "#signin";
  });
  main().replaceChildren(
    h("nav", { class: "menu", "aria-label": tr(T.home) },
      h("a", { class: "button primary big", href: "#new/factory_inspection" }, tr(T.newInspection)),
      h("a", { class: "button big", href: "#hazards" }, tr(T.rectify)),
      h("a", { class: "button big", href: "#records" }, tr(T.records),
        waiting ? h("span", { class: "badge queued" }, `${tr(STATE.queued)} ${waiting}`) : null,
        fixing ? h("span", { class: "badge needs_fixing" }, `${tr(STATE.needs_fixing)} ${fixing}`) : null)),
    drafts.length
      ? h("section", {}, h("h2", {}, tr(T.drafts)), h("ul", { class: "records" }, drafts.map(recordItem)))
      : null,
    h("p", { class: "muted" }, app.me ? `${tr(T.signedInAs)}: ${app.me.account} · ${app.me.districts.join(", ")}` : ""),
    out,
  );
}

function titleOf(record) {
  const f = app.forms[record.form];
  const parts = (f?.layout.record_title || []).map((p) => p.split(".").reduce((o, k) => o?.[k], record.body)).filter(Boolean);
  return `${tr(f?.title) || record.form}${parts.length ? ` · ${parts.join(" · ")}` : ""}`;
}

function recordItem(r) {
  const actions = [];
  if (r.state === "draft" || r.state === "needs_fixing") {
    actions.push(h("a", { class: "button small", href: `#form/${r.id}` }, r.state === "draft" ? tr(T.open) : tr(T.fix)));
  }
  if (r.state === "draft") {
    const del = h("button", { type: "button", class: "button small link" }, tr(T.remove));
    del.addEventListener("click", async () => {
      for (const id of r.photos || photoIds(r.body)) await deletePhoto(id);
      await deleteRecord(r.id);
      route();
    });
    actions.push(del);
  }
  if (r.state === "accepted" && r.current !== false) {
    const fix = h("button", { type: "button", class: "button small" }, tr(T.correct));
    fix.addEventListener("click", () => correctRecord(r));
    actions.push(fix);
  }
  const errors = r.state === "needs_fixing" ? (r.errors || []).map((e) => h("li", {}, e.path ? `${e.path}: ${e.message}` : e.message)) : [];
  const s = r.form === "factory_inspection" ? score((r.body.data?.items || []).map((i) => i.result)) : null;
  return h("li", { class: `record state-${r.state}`, dataset: { id: r.id, state: r.state } },
    h("div", { class: "record-title" }, titleOf(r)),
    h("div", { class: "record-meta" },
      h("span", { class: `badge ${r.state}` }, tr(STATE[r.state])),
      r.review ? h("span", { class: `badge review-${r.review.status}` }, `${tr(T.review)}: ${tr(REVIEW[r.review.status]) || r.review.status}`) : null,
      s !== null ? h("span", { class: "badge" }, `${tr(T.scoreBefore)} ${s.toFixed(1)}`) : null,
      r.body.replaces ? h("span", { class: "badge" }, `${tr(T.correction)} ${r.body.replaces.slice(0, 8)}`) : null,
      h("code", { class: "sid" }, r.id.slice(0, 8))),
    errors.length ? h("ul", { class: "errors" }, errors) : null,
    r.review?.comment ? h("p", { class: "comment" }, r.review.comment) : null,
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

let redrawTimer = null;
function redrawRecords() {
  clearTimeout(redrawTimer);
  redrawTimer = setTimeout(() => {
    const [name] = location.hash.slice(1).split("/");
    if (name === "records" || name === "home" || name === "") route();
  }, 50);
}

async function recordsScreen() {
  const records = (await allRecords()).filter((r) => r.state !== "draft");
  const now = h("button", { type: "button", class: "button" }, tr(T.syncNow));
  now.addEventListener("click", flush);
  main().replaceChildren(
    h("h1", {}, tr(T.records)),
    now,
    records.length ? h("ul", { class: "records" }, records.map(recordItem)) : h("p", { class: "muted" }, tr(T.nothing)),
  );
}

async function fetchHazards() {
  try {
    const { status, body } = await call(app.token, "GET", "/api/v1/hazards?status=open");
    if (status === 200) {
      const list = Array.isArray(body) ? body : body.hazards || [];
      app.hazards = { fetched_at: new Date().toISOString(), list };
      await kvSet("hazards", app.hazards);
    }
  } catch {
    // offline: the list fetched last time is shown
  }
}

async function hazardsScreen() {
  const box = h("div", {});
  const refresh = h("button", { type: "button", class: "button" }, tr(T.refresh));
  const draw = () => {
    const list = app.hazards?.list || [];
    const today = todayInChina();
    box.replaceChildren(
      app.hazards ? h("p", { class: "muted" }, `${tr(T.fetched)} ${new Date(app.hazards.fetched_at).toLocaleString(lang() === "en" ? "en-GB" : "zh-CN")}`) : null,
      list.length
        ? h("ul", { class: "hazards" }, list.map((hz) => {
          const overdue = hz.deadline < today;
          const a = h("a", { class: `hazard-card${overdue ? " overdue" : ""}`, href: "#" },
            h("span", { class: "name" }, hz.enterprise?.name || ""),
            h("span", { class: "what" }, `${hz.item_code} · ${tr(SEVERITY[hz.severity]) || hz.severity}`),
            h("span", { class: "finding" }, hz.finding || ""),
            h("span", { class: "when" }, `${tr(WORDS.form.deadline)} ${hz.deadline}`,
              overdue ? h("b", { class: "badge overdue" }, tr(WORDS.form.overdue)) : null));
          a.addEventListener("click", (ev) => {
            ev.preventDefault();
            newRecord("hazard_rectification", { "data.inspection_id": hz.inspection_id, "data.item_code": hz.item_code, district: hz.district });
          });
          return h("li", {}, a);
        }))
        : h("p", { class: "muted" }, tr({ zh: "没有未整改的隐患", en: "No open hazards" })),
    );
  };
  refresh.addEventListener("click", async () => {
    await fetchHazards();
    draw();
  });
  main().replaceChildren(
    h("h1", {}, tr(T.openHazards)),
    refresh,
    h("a", { class: "button", href: "#new/hazard_rectification" }, tr({ zh: "手动填写整改", en: "Enter a rectification by hand" })),
    box,
  );
  draw();
  await fetchHazards();
  draw();
}

// A new record: its submission_id is minted now and never changes (every retry sends the same one).
async function newRecord(form, prefill = {}, replaces = null, base = null) {
  const f = app.forms[form];
  if (!f) return home();
  const id = crypto.randomUUID();
  const body = base ? structuredClone(base.body) : { data: {} };
  Object.assign(body, {
    submission_id: id,
    form,
    form_version: f.version,
    collector: { id: app.me?.account || "device", role: body.collector?.role },
  });
  delete body.collected_at;
  if (replaces) body.replaces = replaces;
  else delete body.replaces;
  for (const [path, v] of Object.entries(prefill)) {
    const keys = path.split(".");
    let o = body;
    for (const k of keys.slice(0, -1)) o = o[k] ??= {};
    o[keys[keys.length - 1]] = v;
  }
  const record = {
    id, form, version: f.version, body, extra: base ? structuredClone(base.extra || {}) : {},
    state: "draft", errors: [], created: new Date().toISOString(), is_new: !base,
  };
  await putRecord(record);
  location.hash = `#form/${id}`;
}

function correctRecord(r) {
  return newRecord(r.form, {}, r.id, r);
}

function enterprises(records) {
  const seen = new Map();
  for (const r of records) {
    const e = r.body?.data?.enterprise;
    if (e?.credit_code && !seen.has(e.credit_code)) seen.set(e.credit_code, e);
  }
  for (const hz of app.hazards?.list || []) {
    const e = hz.enterprise;
    if (e?.credit_code && !seen.has(e.credit_code)) seen.set(e.credit_code, { credit_code: e.credit_code, name: e.name });
  }
  return [...seen.values()].slice(0, 30);
}

async function formScreen(id) {
  const record = await getRecord(id);
  if (!record) return home();
  const f = app.forms[record.form];
  if (!f) return home();
  const others = await allRecords();
  const status = h("p", { class: "saved muted", role: "status", "aria-live": "polite" });
  const container = h("form", { class: "form", novalidate: true });
  const send = h("button", { type: "submit", class: "button primary big send" }, tr(T.send));
  const scoreNote = h("span", { class: "send-score" });
  let saveTimer = null;
  const save = async () => {
    clearTimeout(saveTimer);
    saveTimer = null;
    await putRecord(record);
    status.textContent = tr(T.saved);
  };
  const updateScore = () => {
    if (record.form !== "factory_inspection") return;
    const s = score((record.body.data?.items || []).map((i) => i.result));
    scoreNote.textContent = s === null ? "" : `${tr(T.scoreBefore)} ${s.toFixed(1)}`;
  };
  const ctx = {
    schema: f.schema,
    layout: f.layout,
    body: record.body,
    extra: (record.extra ??= {}),
    codes: app.codes,
    me: app.me,
    remembered: app.remembered,
    isNew: record.is_new !== false && record.state === "draft",
    recordId: record.id,
    hazards: () => app.hazards?.list || [],
    enterprises: () => enterprises(others),
    photos: {
      get: getPhoto,
      add: putPhoto,
      remove: deletePhoto,
    },
    onChange: () => {
      // nothing typed is lost: saved on the phone a moment after each change
      status.textContent = "";
      clearTimeout(saveTimer);
      saveTimer = setTimeout(save, 150);
      updateScore();
    },
  };
  const form = renderForm(container, ctx);
  record.is_new = false;
  await putRecord(record);
  updateScore();
  container.append(h("div", { class: "sendbar" }, scoreNote, send, status));
  container.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // a pending draft save must not land after the sync has answered (it would put back "queued")
    clearTimeout(saveTimer);
    saveTimer = null;
    record.body.collected_at = nowWithOffset(); // completed now, by the phone's clock
    const problems = form.check();
    if (problems.length) {
      const { first } = form.showErrors(problems);
      status.textContent = tr(T.fixFirst);
      (first?.focus || (() => container.querySelector(".form-errors")?.focus()))();
      return;
    }
    form.clearErrors();
    record.photos = photoIds(record.body);
    record.state = "queued";
    record.errors = [];
    record.queued_at = new Date().toISOString();
    for (const fl of f.layout.sections.flatMap((s) => s.fields)) {
      if (fl.remember && fl.path) {
        const v = fl.path.split(".").reduce((o, k) => o?.[k], record.body);
        if (v !== undefined) app.remembered[fl.path] = v;
      }
    }
    await kvSet("remembered", app.remembered);
    await putRecord(record);
    location.hash = "#records";
    flush();
  });
  // flush a pending save when the tab is hidden or closed
  const onHide = () => {
    if (saveTimer) save();
  };
  document.addEventListener("visibilitychange", onHide, { once: true });
  window.addEventListener("pagehide", onHide, { once: true });

  const heading = h("h1", {}, tr(f.title), record.body.replaces ? h("small", {}, ` · ${tr(T.correction)} ${record.body.replaces.slice(0, 8)}`) : null);
  const state = h("p", { class: "record-meta" }, h("span", { class: `badge ${record.state}` }, tr(STATE[record.state])), " ", h("code", { class: "sid" }, record.id));
  main().replaceChildren(heading, state, container);
  if (record.state === "needs_fixing" && record.errors?.length) {
    const { first } = form.showErrors(record.errors);
    first?.wrap.scrollIntoView({ block: "center" });
  }
}

start();
