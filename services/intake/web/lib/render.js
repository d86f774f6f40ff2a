// Draws a form from its published contract (JSON Schema) and its layout (schemas/layouts/*.layout.json).
//
// The contract says what a value may be (type, choices, lengths, required); the layout says only how to
// ask for it: order, groups, labels and help in Chinese and English, which widget.  A field the layout names
// that the contract lacks is not drawn (an older layout with a newer contract, or the other way round,
// degrades instead of breaking); a choice without a label shows its code.  So a new form version is a
// contract plus a layout, not new code.
//
// Values live in the submission body itself (`ctx.body`), at the path the server will judge; errors, from
// this browser or from the server's 422, are shown on the field whose path they name.
import { h, uid } from "./dom.js";
import { get, normalise, parts, schemaAt, set } from "./paths.js";
import { lang, tr } from "./i18n.js";
import { score, counts } from "./score.js";
import { todayInChina, validate } from "./validate.js";
import { resize } from "./photos.js";
import WORDS from "./words.json";

const UI = WORDS.form;

function fmt(text, params) {
  return tr(text).replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ""));
}

export function ui(key, params = {}) {
  return fmt(UI[key], params);
}

// A field's value accessor: top-level fields read and write the body at their path.
function bodyAccessor(ctx, path) {
  return { get: () => get(ctx.body, path), set: (v) => set(ctx.body, path, v) };
}

export function renderForm(root, ctx) {
  const { schema, layout } = ctx;
  const fields = new Map(); // normalised path key -> {wrap, err, focus, sync}
  const sections = [];
  let checklist = null; // {path, key(index)} when the form has one
  const formError = h("div", { class: "form-errors", role: "alert", hidden: true, tabindex: "-1" });

  const changed = () => ctx.onChange?.();

  function register(key, entry) {
    entry.wrap.dataset.path = key; // where an error with this path is shown (and what tests find it by)
    fields.set(key, entry);
  }

  function wrapField(fieldLayout, sub, required, control, { group = false } = {}) {
    const id = control.id || uid();
    const helpId = `${id}-help`;
    const errId = `${id}-err`;
    const label = tr(fieldLayout.label) || fieldLayout.path;
    const mark = h("span", { class: required ? "req" : "opt" }, required ? " *" : ` (${tr(UI.optional)})`);
    const help = fieldLayout.help ? h("p", { class: "help", id: helpId }, tr(fieldLayout.help)) : null;
    const err = h("p", { class: "error", id: errId, hidden: true });
    let wrap;
    if (group) {
      wrap = h("fieldset", { class: "field", "aria-describedby": [help ? helpId : null, errId].filter(Boolean).join(" ") },
        h("legend", {}, label, mark), help, control, err);
    } else {
      control.id = id;
      control.setAttribute("aria-describedby", [help ? helpId : null, errId].filter(Boolean).join(" "));
      if (required) control.setAttribute("aria-required", "true");
      wrap = h("div", { class: "field" }, h("label", { for: id }, label, mark), help, control, err);
    }
    return { wrap, err };
  }

  // One field of the layout: `acc` reads and writes its value, `key` is where errors find it.
  function field(fieldLayout, sub, required, acc, key) {
    const w = fieldLayout.widget;
    if (!sub) return null; // the contract has no such field: not drawn
    let control;
    let sync;
    let group = false;
    let focus;
    const choices = sub.enum || sub.items?.enum;
    const label = (v) => tr(fieldLayout.choices?.[String(v)]) || codeLabel(ctx, fieldLayout.codes, v) || String(v);
    if (w === "text" || w === "number" || w === "date") {
      control = h("input", {
        type: w === "date" ? "date" : "text",
        inputmode: w === "number" ? "numeric" : null,
        ...(fieldLayout.input || {}),
      });
      const caps = fieldLayout.input?.autocapitalize === "characters";
      control.addEventListener("input", () => {
        let v = control.value;
        if (caps) {
          const up = v.toUpperCase();
          if (up !== v) control.value = v = up;
        }
        if (v === "") acc.set(undefined);
        else if (w === "number") acc.set(/^-?[0-9]+$/.test(v.trim()) ? Number(v.trim()) : v);
        else acc.set(v);
        changed();
      });
      sync = () => {
        const v = acc.get();
        control.value = v == null ? "" : String(v);
      };
    } else if (w === "textarea") {
      control = h("textarea", { rows: 4, maxlength: sub.maxLength ?? null });
      control.addEventListener("input", () => {
        acc.set(control.value === "" ? undefined : control.value);
        changed();
      });
      sync = () => {
        control.value = acc.get() ?? "";
      };
    } else if (w === "select") {
      const options = selectOptions(ctx, fieldLayout, choices);
      control = h("select", {}, h("option", { value: "" }, tr(UI.choose)),
        options.map((v) => h("option", { value: v }, `${label(v)}`)));
      control.addEventListener("change", () => {
        acc.set(control.value === "" ? undefined : control.value);
        changed();
      });
      sync = () => {
        control.value = acc.get() ?? "";
      };
    } else if (w === "radio" || w === "yesno" || w === "scale") {
      group = true;
      const values = w === "yesno" ? [true, false] : w === "scale" ? range(sub.minimum, sub.maximum) : choices;
      const name = uid("r");
      const inputs = values.map((v) => {
        const input = h("input", { type: "radio", name, value: String(v) });
        input.addEventListener("change", () => {
          acc.set(v);
          changed();
        });
        const text = w === "scale" ? [h("b", {}, String(v)), " ", label(v)] : label(v);
        return { v, input, el: h("label", { class: "choice" }, input, h("span", {}, text)) };
      });
      control = h("div", { class: `choices ${w}` }, inputs.map((i) => i.el));
      focus = () => inputs[0]?.input.focus();
      sync = () => {
        const cur = acc.get();
        for (const i of inputs) i.input.checked = cur === i.v;
      };
    } else if (w === "checkboxes") {
      group = true;
      const inputs = choices.map((v) => {
        const input = h("input", { type: "checkbox", value: v });
        input.addEventListener("change", () => {
          const picked = inputs.filter((i) => i.input.checked).map((i) => i.v);
          acc.set(picked.length ? picked : undefined);
          changed();
        });
        return { v, input, el: h("label", { class: "choice" }, input, h("span", {}, label(v))) };
      });
      control = h("div", { class: "choices checkboxes" }, inputs.map((i) => i.el));
      focus = () => inputs[0]?.input.focus();
      sync = () => {
        const cur = acc.get() || [];
        for (const i of inputs) i.input.checked = cur.includes(i.v);
      };
    } else if (w === "photos") {
      group = true;
      ({ control, sync, focus } = photosWidget(ctx, sub, acc, changed));
    } else {
      return null;
    }
    const { wrap, err } = wrapField(fieldLayout, sub, required, control, { group });
    if (fieldLayout.readonly_when_given && acc.get() !== undefined) control.setAttribute("readonly", "");
    focus ??= () => control.focus();
    register(key, { wrap, err, focus, sync, control });
    sync();
    return wrap;
  }

  function isRequired(path) {
    const ps = parts(path);
    let parent = schema;
    for (const p of ps.slice(0, -1)) parent = typeof p === "number" ? parent?.items : parent?.properties?.[p];
    return Boolean(parent?.required?.includes(ps[ps.length - 1]));
  }

  function topField(fl) {
    if (fl.widget === "checklist") return checklistWidget(fl);
    if (fl.widget === "hazard_pick") return hazardPick(fl);
    if (fl.widget === "enterprise_pick") return enterprisePick(fl);
    const sub = schemaAt(schema, fl.path);
    if (!sub) return null;
    const acc = bodyAccessor(ctx, fl.path);
    applyDefault(ctx, fl, acc);
    if (fl.from_fragment && ctx.fragment?.[fl.from_fragment]) {
      acc.set(ctx.fragment[fl.from_fragment]);
      fl = { ...fl, readonly_when_given: true };
    }
    return field(fl, sub, isRequired(fl.path), acc, normalise(fl.path));
  }

  // --- the checklist: items by category, pass / fail / N/A; a failed item opens its hazard ----------------
  function checklistWidget(fl) {
    const arraySchema = schemaAt(schema, fl.path);
    if (!arraySchema) return null;
    const itemSchema = arraySchema.items;
    const hazardLayout = fl.when_failed;
    const hazardSchema = itemSchema?.properties?.[hazardLayout?.path];
    ctx.extra.checklist ??= fromItems(get(ctx.body, fl.path));
    const state = ctx.extra.checklist;
    const known = new Set(fl.items.map((i) => i.code));
    const kept = (get(ctx.body, fl.path) || []).filter((i) => !known.has(i.code)); // items this layout lacks

    const rebuild = () => {
      const items = [];
      for (const it of fl.items) {
        const s = state[it.code];
        if (!s?.result) continue;
        const item = { code: it.code, category: it.category, result: s.result };
        if (s.result === "fail") {
          const hz = {};
          for (const [k, v] of Object.entries(s.hazard || {})) {
            if (v !== undefined && !(Array.isArray(v) && v.length === 0)) hz[k] = v;
          }
          item.hazard = hz;
        }
        items.push(item);
      }
      items.push(...kept);
      set(ctx.body, fl.path, items.length ? items : undefined);
      scoreBar.update();
    };

    const scoreBar = scoreWidget(() => get(ctx.body, fl.path) || [], fl.items.length);
    const byCategory = new Map();
    for (const it of fl.items) {
      if (!byCategory.has(it.category)) byCategory.set(it.category, []);
      byCategory.get(it.category).push(it);
    }
    const groups = [];
    for (const [category, items] of byCategory) {
      const rows = items.map((it) => {
        state[it.code] ??= {};
        const s = state[it.code];
        const name = uid("res");
        const hazardBox = h("div", { class: "hazard", hidden: s.result !== "fail" });
        const radios = Object.keys(fl.results).filter((r) => itemSchema.properties.result.enum.includes(r)).map((r) => {
          const input = h("input", { type: "radio", name, value: r, checked: s.result === r });
          input.addEventListener("change", () => {
            s.result = r;
            hazardBox.hidden = r !== "fail";
            rebuild();
            changed();
          });
          return h("label", { class: `choice res-${r}` }, input, h("span", {}, tr(fl.results[r])));
        });
        const legendId = uid("item");
        const row = h("fieldset", { class: "item", dataset: { code: it.code } },
          h("legend", { id: legendId }, h("span", { class: "code" }, it.code), " ", tr(it.label)),
          h("div", { class: "choices seg" }, radios),
          h("p", { class: "error", hidden: true }),
          hazardBox);
        const errEl = row.querySelector(".error");
        register(`${fl.path}{${it.code}}`, { wrap: row, err: errEl, focus: () => row.querySelector("input").focus(), sync: () => {} });
        if (hazardSchema) {
          s.hazard ??= {};
          hazardBox.append(h("h4", {}, tr(hazardLayout.title)));
          for (const hf of hazardLayout.fields) {
            const sub = hazardSchema.properties?.[hf.path];
            const acc = {
              get: () => s.hazard[hf.path],
              set: (v) => {
                if (v === undefined) delete s.hazard[hf.path];
                else s.hazard[hf.path] = v;
                rebuild();
              },
            };
            const el = field(hf, sub, hazardSchema.required?.includes(hf.path), acc, `${fl.path}{${it.code}}.${hazardLayout.path}.${hf.path}`);
            if (el) hazardBox.append(el);
          }
        }
        return row;
      });
      groups.push(h("section", { class: "category" }, h("h3", {}, tr(fl.categories?.[category]) || category), rows));
    }
    checklist = { path: normalise(fl.path) };
    rebuild();
    const wrap = h("div", { class: "checklist" }, scoreBar.el, groups);
    register(normalise(fl.path), { wrap, err: scoreBar.err, focus: () => wrap.querySelector("input")?.focus(), sync: () => {} });
    return wrap;
  }

  // --- pickers that fill several fields at once -----------------------------------------------------------
  function hazardPick(fl) {
    const list = h("ul", { class: "hazards" });
    const chosen = h("p", { class: "chosen", role: "status" });
    const draw = () => {
      list.replaceChildren();
      const hazards = ctx.hazards?.() || [];
      if (!hazards.length) list.append(h("li", { class: "muted" }, tr(UI.noHazards)));
      const today = todayInChina();
      for (const hz of hazards) {
        const overdue = hz.deadline < today;
        const picked = get(ctx.body, fl.fills.inspection_id) === hz.inspection_id && get(ctx.body, fl.fills.item_code) === hz.item_code;
        const btn = h("button", { type: "button", class: `hazard-card${overdue ? " overdue" : ""}${picked ? " picked" : ""}`, "aria-pressed": picked ? "true" : "false" },
          h("span", { class: "name" }, hz.enterprise?.name || hz.enterprise?.credit_code || ""),
          h("span", { class: "what" }, `${hz.item_code} · ${tr(UI.severity[hz.severity]) || hz.severity}`),
          h("span", { class: "finding" }, hz.finding || ""),
          h("span", { class: "when" }, `${tr(UI.deadline)} ${hz.deadline}`, overdue ? h("b", { class: "badge overdue" }, tr(UI.overdue)) : null));
        btn.addEventListener("click", () => {
          for (const [k, path] of Object.entries(fl.fills)) if (hz[k] !== undefined) set(ctx.body, path, hz[k]);
          refresh();
          draw();
          changed();
        });
        list.append(h("li", {}, btn));
      }
      const id = get(ctx.body, fl.fills.item_code);
      chosen.textContent = id ? `${tr(UI.chosen)}: ${id}` : "";
    };
    draw();
    ctx.redrawHazards = draw;
    return h("div", { class: "field picker" }, h("p", { class: "label" }, tr(fl.label)), chosen, list);
  }

  function enterprisePick(fl) {
    const known = ctx.enterprises?.() || [];
    if (!known.length) return null;
    const select = h("select", { id: uid() }, h("option", { value: "" }, tr(UI.choose)),
      known.map((e, i) => h("option", { value: String(i) }, `${e.name} (${e.credit_code})`)));
    select.addEventListener("change", () => {
      const e = known[Number(select.value)];
      if (!e) return;
      for (const [k, path] of Object.entries(fl.fills)) if (e[k] !== undefined) set(ctx.body, path, e[k]);
      refresh();
      changed();
    });
    return h("div", { class: "field" }, h("label", { for: select.id }, tr(fl.label)), select);
  }

  // --- sections -------------------------------------------------------------------------------------------
  for (const section of layout.sections) {
    const drawn = section.fields.map(topField).filter(Boolean);
    if (!drawn.length) continue;
    const el = h("section", { class: "form-section" },
      section.title ? h("h2", {}, tr(section.title)) : null,
      section.help ? h("p", { class: "help" }, tr(section.help)) : null,
      drawn);
    sections.push({ el, layout: section, keys: [...fields.keys()].filter((k) => !sections.some((s) => s.keys.includes(k))) });
  }
  for (const [path, value] of Object.entries(layout.fixed || {})) set(ctx.body, path, value);

  root.replaceChildren(formError, ...sections.map((s) => s.el));

  // --- errors ---------------------------------------------------------------------------------------------
  // Where an error's path is shown: the field it names, else its nearest drawn parent, else the form's box.
  function keyFor(path) {
    let p = normalise(path);
    if (checklist && p.startsWith(`${checklist.path}[`)) {
      const m = p.slice(checklist.path.length).match(/^\[(\d+)\](.*)$/);
      const item = get(ctx.body, checklist.path)?.[Number(m[1])];
      if (item) p = `${checklist.path}{${item.code}}${m[2]}`;
    }
    while (p) {
      if (fields.has(p)) return p;
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["), p.lastIndexOf("{"));
      p = cut > 0 ? p.slice(0, cut) : "";
    }
    return null;
  }

  function clearErrors() {
    for (const f of fields.values()) {
      f.err.hidden = true;
      f.err.textContent = "";
      f.wrap.classList.remove("invalid");
      f.control?.removeAttribute?.("aria-invalid");
    }
    formError.hidden = true;
    formError.replaceChildren();
  }

  // errors: [{path, message}] where message is a string (the server's, in the language asked) or {zh, en}
  function showErrors(errors) {
    clearErrors();
    const loose = [];
    let first = null;
    for (const e of errors) {
      const text = typeof e.message === "string" ? e.message : tr(e.message);
      const key = keyFor(e.path || "");
      if (key === null) {
        loose.push(e.path ? `${e.path}: ${text}` : text);
        continue;
      }
      const f = fields.get(key);
      f.err.hidden = false;
      f.err.textContent = f.err.textContent ? `${f.err.textContent}；${text}` : text;
      f.err.dataset.path = e.path || "";
      f.wrap.classList.add("invalid");
      f.control?.setAttribute?.("aria-invalid", "true");
      const box = f.wrap.closest(".hazard");
      if (box) box.hidden = false;
      first ??= f;
    }
    if (loose.length) {
      formError.hidden = false;
      formError.append(h("p", {}, tr(UI.formErrors)), h("ul", {}, loose.map((t) => h("li", {}, t))));
    }
    return { first, loose: loose.length };
  }

  function refresh() {
    for (const f of fields.values()) f.sync();
  }

  function check() {
    return validate(schema, layout, ctx.body);
  }

  // steps mode (the survey): one section per screen; "next" only when this screen's answers are valid
  function sectionErrors(i) {
    const keys = new Set(sections[i].keys);
    return check().filter((e) => {
      const k = keyFor(e.path);
      return k !== null && keys.has(k);
    });
  }

  return { showErrors, clearErrors, refresh, check, sections, sectionErrors, fields, keyFor };
}

function range(lo, hi) {
  const out = [];
  for (let i = lo; i <= hi; i++) out.push(i);
  return out;
}

function fromItems(items) {
  const state = {};
  for (const it of items || []) state[it.code] = { result: it.result, hazard: { ...(it.hazard || {}) } };
  return state;
}

function codeLabel(ctx, codes, v) {
  if (codes === "industries") {
    const i = ctx.codes?.industries?.find((x) => x.code === v);
    return i ? `${v} ${tr(i)}` : null;
  }
  if (codes === "districts" || codes === "my_districts") {
    const d = ctx.codes?.districts?.find((x) => x.code === v);
    return d ? `${v} ${tr(d)}` : null;
  }
  return null;
}

function selectOptions(ctx, fl, choices) {
  if (fl.codes === "my_districts" && ctx.me?.districts?.length) {
    return choices.filter((c) => ctx.me.districts.includes(c));
  }
  return choices;
}

function applyDefault(ctx, fl, acc) {
  if (acc.get() !== undefined || ctx.isNew === false) return;
  let v;
  if (fl.remember && ctx.remembered?.[fl.path] !== undefined) v = ctx.remembered[fl.path];
  else if (fl.default === "today") v = todayInChina();
  else if (fl.default !== undefined) v = fl.default;
  if (fl.codes === "my_districts" && v === undefined && ctx.me?.districts?.length === 1) v = ctx.me.districts[0];
  if (v !== undefined) acc.set(v);
}

// The computed score, as the server will compute it, above the checklist while it is filled in.
function scoreWidget(items, total) {
  const value = h("strong", { class: "score-value" });
  const detail = h("span", { class: "score-detail" });
  const err = h("p", { class: "error", hidden: true });
  const el = h("div", { class: "score", role: "status", "aria-live": "polite" }, h("span", {}, `${tr(UI.score)} `), value, " ", detail, err);
  return {
    el,
    err,
    update() {
      const results = items().map((i) => i.result);
      const s = score(results);
      const c = counts(results);
      value.textContent = s === null ? "—" : `${s.toFixed(1)}`;
      value.dataset.score = s === null ? "" : String(s);
      detail.textContent = `${fmt(UI.passFail, { pass: c.pass, fail: c.fail, na: c.not_applicable })} · ${tr(UI.answered)} ${results.length}/${total}`;
    },
  };
}

function photosWidget(ctx, sub, acc, changed) {
  const max = sub.maxItems ?? 5;
  const thumbs = h("div", { class: "thumbs" });
  const input = h("input", { type: "file", accept: "image/*", capture: "environment", class: "photo-input" });
  const pick = h("label", { class: "button secondary photo-pick" }, input, tr(UI.addPhoto));
  const urls = [];
  const draw = async () => {
    urls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    thumbs.replaceChildren();
    const ids = acc.get() || [];
    for (const id of ids) {
      const photo = await ctx.photos.get(id);
      if (!photo) continue;
      const url = URL.createObjectURL(photo.blob);
      urls.push(url);
      const remove = h("button", { type: "button", class: "remove", "aria-label": tr(UI.removePhoto) }, "×");
      remove.addEventListener("click", async () => {
        acc.set((acc.get() || []).filter((x) => x !== id));
        await ctx.photos.remove(id);
        changed();
        draw();
      });
      thumbs.append(h("figure", { class: "thumb" }, h("img", { src: url, alt: `${tr(UI.addPhoto)} ${ids.indexOf(id) + 1}` }), remove));
    }
    pick.hidden = ids.length >= max;
  };
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    for (const file of files) {
      if ((acc.get() || []).length >= max) break;
      const blob = await resize(file);
      const id = crypto.randomUUID();
      await ctx.photos.add({ id, blob, type: "image/jpeg", record: ctx.recordId, uploaded: false, size: blob.size });
      acc.set([...(acc.get() || []), id]);
      changed();
    }
    draw();
  });
  const control = h("div", { class: "photos" }, thumbs, pick, h("p", { class: "help" }, fmt(UI.photoLimit, { n: max })));
  return { control, sync: draw, focus: () => input.focus() };
}

export { lang };
