// The worker survey behind a public link (/survey#st=<token>[&e=<credit code>]): a QR code on a poster in
// the factory.  No login and nothing kept about the worker: no cookie, no IndexedDB, no device id.  The one
// answer in progress (with its submission_id, so a retry is stored once) lives in sessionStorage, for this
// tab only, and is removed once the server has it.
import { h } from "./lib/dom.js";
import { lang, setLang, tr, useStorage } from "./lib/i18n.js";
import { call, Offline, refusal } from "./lib/api.js";
import { loadCodes, loadForms, nowWithOffset } from "./lib/forms.js";
import { renderForm, ui } from "./lib/render.js";
import WORDS from "./lib/words.json";

useStorage(sessionStorage);

const T = { ...WORDS.common, ...WORDS.survey };
const KEY = "score.survey.answer";
const main = () => document.getElementById("main");
const fragment = Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
const state = { token: fragment.st || null, me: null, forms: null, codes: null, step: 0, sending: false };

function header() {
  const toggle = h("button", { type: "button", class: "lang", lang: lang() === "zh" ? "en" : "zh-CN" }, tr(T.other));
  toggle.addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    header();
    draw();
  });
  const title = state.forms ? tr(state.forms.worker_survey.layout.title) : "SCORE";
  document.getElementById("bar").replaceChildren(h("span", { class: "brand" }, title), toggle);
  document.title = title;
}

function answer() {
  const kept = sessionStorage.getItem(KEY);
  if (kept) return JSON.parse(kept);
  const f = state.forms.worker_survey;
  return {
    submission_id: crypto.randomUUID(),
    form: "worker_survey",
    form_version: f.version,
    district: state.me.districts[0],
    collector: { id: state.me.account },
    data: {},
  };
}

function keep(body) {
  sessionStorage.setItem(KEY, JSON.stringify(body));
}

let body = null;
let form = null;

function draw(errors = null) {
  if (!state.forms || !state.me) return;
  const f = state.forms.worker_survey;
  body ??= answer();
  const container = h("form", { class: "form survey", novalidate: true });
  form = renderForm(container, {
    schema: f.schema,
    layout: f.layout,
    body,
    extra: {},
    codes: state.codes,
    me: state.me,
    fragment,
    isNew: true,
    onChange: () => keep(body),
  });
  keep(body);
  const n = form.sections.length;
  // the statement screens, one at a time; the last "next" sends
  const sectionAt = (i) => form.sections[i];
  const back = h("button", { type: "button", class: "button" }, ui("back"));
  const next = h("button", { type: "submit", class: "button primary big" });
  const progress = h("p", { class: "progress muted", "aria-live": "polite" });
  const show = () => {
    form.sections.forEach((s, i) => {
      s.el.hidden = i !== state.step;
    });
    back.hidden = state.step === 0;
    next.textContent = state.step === n - 1 ? tr(T.send) : ui("next");
    progress.textContent = ui("step", { i: state.step + 1, n });
    sectionAt(state.step).el.querySelector("input, select, textarea")?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  };
  back.addEventListener("click", () => {
    state.step = Math.max(0, state.step - 1);
    form.clearErrors();
    show();
  });
  container.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const problems = form.sectionErrors(state.step);
    if (problems.length) {
      form.showErrors(problems).first?.focus();
      return;
    }
    form.clearErrors();
    if (state.step < n - 1) {
      state.step += 1;
      show();
      return;
    }
    await send();
  });
  const districtName = state.codes?.districts.find((d) => d.code === body.district);
  container.append(h("div", { class: "sendbar" }, back, next, progress));
  main().replaceChildren(
    f.layout.intro ? h("p", { class: "intro" }, tr(f.layout.intro)) : null,
    h("p", { class: "muted district" }, `${tr(T.district)}: ${districtName ? tr(districtName) : ""} ${body.district}`),
    container,
  );
  show();
  if (errors) showRefusal(errors);
}

function showRefusal(errors) {
  const { first } = form.showErrors(errors);
  if (first) {
    const i = form.sections.findIndex((s) => s.el.contains(first.wrap));
    if (i >= 0 && i !== state.step) {
      state.step = i;
      form.sections.forEach((s, j) => {
        s.el.hidden = j !== i;
      });
    }
    first.focus();
  } else {
    main().querySelector(".form-errors")?.focus();
  }
}

async function send() {
  if (state.sending) return;
  state.sending = true;
  body.collected_at ??= nowWithOffset();
  keep(body);
  try {
    const { status, body: answerBody } = await call(state.token, "POST", "/api/v1/submissions", { json: body });
    if (status === 200 || status === 201) {
      sessionStorage.removeItem(KEY); // the server has it: nothing of this answer stays here
      body = null;
      state.step = 0;
      const again = h("button", { type: "button", class: "button big" }, tr(T.again));
      again.addEventListener("click", () => draw());
      main().replaceChildren(h("div", { class: "card done", role: "status" }, h("h1", {}, tr(T.thanks)), again));
      return;
    }
    const errors = refusal(answerBody);
    errors.unshift({ path: "", message: tr(T.refused) });
    showRefusal(errors);
  } catch (e) {
    if (!(e instanceof Offline)) throw e;
    showRefusal([{ path: "", message: tr(T.offline) }]);
    window.addEventListener("online", send, { once: true });
  } finally {
    state.sending = false;
  }
}

async function start() {
  setLang(lang());
  header();
  if (!state.token) {
    main().replaceChildren(h("p", { class: "card" }, tr(T.noLink)));
    return;
  }
  main().replaceChildren(h("p", { class: "muted" }, tr(T.loading)));
  try {
    const [forms, codes, me] = await Promise.all([
      loadForms(["worker_survey"]),
      loadCodes(),
      call(state.token, "GET", "/app/me"),
    ]);
    state.forms = forms;
    state.codes = codes;
    if (me.status !== 200 || !me.body.districts?.length) {
      main().replaceChildren(h("p", { class: "card error", role: "alert" }, tr(T.badLink)));
      return;
    }
    state.me = me.body;
  } catch {
    main().replaceChildren(h("p", { class: "card error", role: "alert" }, tr(T.offline)));
    window.addEventListener("online", start, { once: true });
    return;
  }
  header();
  draw();
}

start();
