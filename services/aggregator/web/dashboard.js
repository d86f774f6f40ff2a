// The dashboard's charts: fetch the view's JSON (/api/v1/dashboard/<code>, the URL is on <body data-api>) and
// draw it with Apache ECharts (SVG renderer: the drawn values are text in the page, so a test can read them).
// Every figure comes from that JSON, formatted with Intl for the page's locale; a suppressed survey figure is
// drawn as the word for "suppressed", never as a number. No inline script: the page's CSP allows only
// scripts with its nonce, and this file is loaded with it.
import * as echarts from "echarts/core";
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);

const i18n = JSON.parse(document.getElementById("i18n").textContent);
const T = i18n.text;
const LOCALE = i18n.locale;

// Series colours double as their value labels' colours (tests find a series' labels by it); axis and legend
// text have colours of their own.
const COLORS = ["#2563eb", "#059669", "#d97706", "#dc2626", "#7c3aed", "#0891b2"];
const AXIS_TEXT = "#4b5563";
const LEGEND_TEXT = "#1f2937";

const counts = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const percents = new Intl.NumberFormat(LOCALE, {
  style: "percent",
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});
const decimals = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 3 });

function kindOf(metric) {
  if (metric.endsWith("_rate")) return "rate";
  if (metric.endsWith("_index") || metric === "mean_inspection_score") return "decimal";
  return "count";
}

/** The figure ``key`` (dotted) of a report: a number, null (nothing to divide by) or "suppressed". */
export function figure(report, key) {
  const f = report.figures;
  if (key.startsWith("worker_survey.") && f.worker_survey.suppressed) return "suppressed";
  let v = f;
  for (const part of key.split(".")) v = v == null ? undefined : v[part];
  return v === undefined ? null : v;
}

function format(metric, v) {
  if (v === "suppressed") return T.suppressed;
  if (v == null) return "–";
  const kind = kindOf(metric);
  if (kind === "rate") return percents.format(v);
  if (kind === "decimal") return decimals.format(v);
  return counts.format(v);
}

const dateOnly = (iso, options) =>
  new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", ...options }).format(new Date(`${iso}T00:00:00Z`));

function periodLabel(p) {
  const year = p.start.slice(0, 4);
  const zh = i18n.lang === "zh";
  switch (p.kind) {
    case "day":
      return dateOnly(p.start, { month: "short", day: "numeric" });
    case "week": {
      const [y, w] = p.key.split("-W");
      return zh ? `${y}年第${Number(w)}周` : `W${Number(w)} ${y}`;
    }
    case "month":
      return dateOnly(p.start, { year: "numeric", month: "short" });
    case "quarter": {
      const q = p.key.split("-Q")[1];
      return zh ? `${year}年第${q}季度` : `Q${q} ${year}`;
    }
    default:
      return zh ? `${year}年` : year;
  }
}

const districtName = (d) => (i18n.lang === "zh" ? d.name_zh : d.name_en);

/** One data point: a number, or a zero-length transparent bar labelled "suppressed" / "–" (so every
 * category keeps exactly one label per series and a suppressed cell can never read as 0). */
function point(metric, v, line) {
  if (typeof v === "number") return { value: v };
  if (line) return { value: null };
  return {
    value: 0,
    suppressed: v === "suppressed",
    itemStyle: { color: "transparent" }, // no bar; the label stays
    label: { formatter: () => format(metric, v) },
  };
}

const charts = [];

/**
 * Draw ``series`` ({key, name, metric, values, line}) over ``categories`` ({id, label}) in the element
 * ``id``. ``horizontal``: categories on the y axis, first at the top. The element keeps the categories
 * and the series' keys and colours as data attributes: what a reader (or a test) needs to read the labels.
 */
function draw(id, categories, series, { horizontal = false, onClick = null, empty = T.no_data } = {}) {
  const el = document.getElementById(id);
  if (!categories.length) {
    el.classList.add("empty");
    echarts.getInstanceByDom(el)?.dispose();
    el.textContent = empty;
    el.dataset.categories = "[]";
    el.dataset.series = "[]";
    return;
  }
  el.classList.remove("empty");
  const chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "svg", locale: i18n.lang === "zh" ? "ZH" : "EN" });
  const categoryAxis = {
    type: "category",
    data: categories.map((c) => c.label),
    inverse: horizontal,
    triggerEvent: true, // a division's or industry's name is a link too
    axisLabel: { color: AXIS_TEXT, interval: 0, hideOverlap: false, rotate: !horizontal && categories.length > 8 ? 40 : 0 },
    axisTick: { alignWithLabel: true },
  };
  // values are printed on the marks: the value axis keeps its grid lines only
  const valueAxis = { type: "value", axisLabel: { show: false }, min: 0 };
  chart.setOption(
    {
      animation: false,
      textStyle: { fontFamily: 'system-ui, "Noto Sans CJK SC", sans-serif' },
      grid: { left: horizontal ? 8 : 12, right: horizontal ? 72 : 12, top: 36, bottom: 8, containLabel: true },
      legend: { show: series.length > 1, top: 0, textStyle: { color: LEGEND_TEXT } },
      tooltip: {
        trigger: "axis",
        renderMode: "richText", // drawn by ECharts itself: no HTML with inline styles for the CSP to refuse
        axisPointer: { type: "shadow" },
      },
      xAxis: horizontal ? valueAxis : categoryAxis,
      yAxis: horizontal ? categoryAxis : valueAxis,
      series: series.map((s, i) => ({
        type: s.line ? "line" : "bar",
        name: s.name,
        color: COLORS[i % COLORS.length],
        data: s.values.map((v) => point(s.metric, v, s.line)),
        barMaxWidth: 28,
        connectNulls: false,
        label: {
          show: true,
          color: COLORS[i % COLORS.length],
          position: horizontal ? "right" : "top",
          formatter: (p) => format(s.metric, s.values[p.dataIndex]),
        },
        tooltip: { valueFormatter: undefined },
      })),
    },
    true,
  );
  el.dataset.categories = JSON.stringify(categories.map((c) => c.id));
  el.dataset.horizontal = horizontal ? "1" : "";
  el.dataset.series = JSON.stringify(
    series.map((s, i) => ({ key: s.key, metric: s.metric, color: COLORS[i % COLORS.length], line: !!s.line })),
  );
  chart.off("click");
  if (onClick) {
    chart.on("click", (p) => {
      const i = p.componentType === "series" ? p.dataIndex : categories.findIndex((c) => c.label === p.value);
      if (i >= 0) onClick(categories[i]);
    });
  }
  charts.push(chart);
}

function go(changes) {
  const params = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v) params.set(k, v);
    else params.delete(k);
  }
  location.search = params.toString();
}

const byDistrict = (reports) => reports.map((r) => ({ id: r.district.code, label: districtName(r.district) }));

function compare(id, reports, onClick) {
  const metric = i18n.metric;
  draw(
    id,
    byDistrict(reports),
    [{ key: metric, name: i18n.metrics[metric], metric, values: reports.map((r) => figure(r, metric)) }],
    { horizontal: true, onClick },
  );
}

function tiles(report) {
  const keys = [
    "inspections",
    "enterprises_inspected",
    "hazards.found",
    "hazards.rectification_rate",
    "hazards.open",
    "hazards.overdue",
    "mean_inspection_score",
    "worker_survey.safety_climate_index",
  ];
  const box = document.getElementById("summary");
  box.replaceChildren(
    ...keys.map((key) => {
      const tile = document.createElement("div");
      tile.className = "tile";
      tile.dataset.metric = key;
      const value = figure(report, key);
      const v = document.createElement("span");
      v.className = value === "suppressed" ? "value suppressed" : "value";
      v.textContent = format(key, value);
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = i18n.metrics[key];
      tile.append(v, label);
      return tile;
    }),
  );
}

function trends(trend) {
  const cats = trend.map((r) => ({ id: r.period.key, label: periodLabel(r.period) }));
  const series = (keys, line = false) =>
    keys.map((key) => ({ key, name: i18n.metrics[key], metric: key, values: trend.map((r) => figure(r, key)), line }));
  draw("chart-trend-inspections", cats, series(["inspections"]));
  draw("chart-trend-hazards", cats, [
    ...series(["hazards.found", "hazards.rectified"]),
    ...series(["hazards.open", "hazards.overdue"], true),
  ]);
  draw("chart-trend-rates", cats, series(["hazards.rectification_rate", "compliance_rate"], true));
  draw("chart-trend-score", cats, series(["mean_inspection_score"], true));
  draw("chart-trend-survey", cats, series(["worker_survey.safety_climate_index", "worker_survey.cooperation_index"]));
}

function hazardPicture(h) {
  const kinds = [...new Set(h.open.map((r) => r.category))];
  const cats = kinds.map((c) => ({ id: c, label: i18n.categories[c] || c }));
  const sev = (s) => kinds.map((c) => h.open.filter((r) => r.category === c && r.severity === s).reduce((n, r) => n + r.count, 0));
  draw(
    "chart-hazard-open",
    cats,
    ["general", "major"].map((s) => ({ key: s, name: i18n.severities[s], metric: "count", values: sev(s) })),
    { horizontal: true },
  );
  draw(
    "chart-hazard-overdue",
    h.overdue_by_age.map((b) => ({ id: b.bucket, label: `${b.bucket} ${T.days}` })),
    [{ key: "overdue", name: i18n.metrics["hazards.overdue"], metric: "count", values: h.overdue_by_age.map((b) => b.count) }],
  );
}

function freshness(f) {
  const time = document.getElementById("freshness-time");
  if (!time || !f.updated_at) return;
  const when = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Shanghai" });
  const ago = new Intl.RelativeTimeFormat(LOCALE, { numeric: "auto" });
  const s = f.age_seconds;
  const [n, unit] = s < 60 ? [s, "second"] : s < 3600 ? [s / 60, "minute"] : s < 86400 ? [s / 3600, "hour"] : [s / 86400, "day"];
  time.dateTime = f.updated_at;
  time.textContent = `${ago.format(-Math.floor(n), unit)} (${when.format(new Date(f.updated_at))})`;
}

function reformatOverview() {
  // the server wrote the table for reading without JavaScript; numbers get the locale's grouping here
  for (const td of document.querySelectorAll("#overview td:nth-child(n+2)")) {
    const n = Number(td.textContent.trim());
    if (td.textContent.trim() !== "" && Number.isFinite(n)) td.textContent = decimals.format(n);
  }
}

async function main() {
  const status = document.getElementById("status");
  let view;
  try {
    const resp = await fetch(document.body.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    view = await resp.json();
  } catch (err) {
    status.textContent = `${T.load_failed} (${err.message})`;
    document.body.dataset.ready = "error";
    return;
  }
  tiles(view.summary);
  compare("chart-compare", view.comparison, (c) => go({ district: c.id }));
  if (view.children.length) compare("chart-children", view.children, (c) => go({ district: c.id }));
  else draw("chart-children", [], [], { empty: T.no_children });
  draw(
    "chart-industry",
    view.industries.map((r) => ({ id: r.industry, label: `${r.industry} ${i18n.industries[r.industry] || ""}` })),
    [{ key: i18n.metric, name: i18n.metrics[i18n.metric], metric: i18n.metric, values: view.industries.map((r) => figure(r, i18n.metric)) }],
    { horizontal: true, onClick: (c) => go({ industry: c.id }) },
  );
  trends(view.trend);
  hazardPicture(view.hazards);
  freshness(view.freshness);
  reformatOverview();
  status.hidden = true;
  document.body.dataset.ready = "1";
}

let resizing = 0;
addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => charts.forEach((c) => c.resize()), 100);
});

main();
