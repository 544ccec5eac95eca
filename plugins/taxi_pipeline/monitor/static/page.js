// The "Taxi loads" page: reads api/status and api/analytics (monitor/app.py) and draws the grid,
// the per-type cards and uPlot charts. No build step: one plain script, served by the plugin.
"use strict";

const STATES = {
  loaded: "loaded", unchanged: "re-loaded, unchanged", failed: "failed", quality_failed: "quality failed",
  running: "running", published: "published, not loaded", not_published: "not published yet",
};
// A type keeps its colour in every chart (the mart's service_type is "Green", "Yellow").
const COLORS = { green: "#2f9e44", yellow: "#e8a700", fhv: "#1c7ed6", fhvhv: "#9c36b5" };
const colour = (label) => COLORS[label.toLowerCase()] || "#495057";
// The page is /<base>/taxi-loads/ inside Airflow's UI; a run's page is /<base>/dags/<dag>/runs/<run>.
const AIRFLOW = location.pathname.replace(/\/taxi-loads\/?.*$/, "");
const number = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const $ = (id) => document.getElementById(id);

function element(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

async function getJson(path) {
  const answer = await fetch(path + location.search, { credentials: "same-origin" });
  const body = await answer.json().catch(() => ({}));
  if (answer.status === 401 || answer.status === 403) throw new Error("Log in to Airflow to see this page.");
  if (!answer.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

function say(text) {
  $("message").hidden = !text;
  $("message").textContent = text || "";
}

function monthTime(month) {
  const [year, m] = month.split("-").map(Number);
  return Date.UTC(year, m - 1, 1) / 1000;
}

function chart(into, title, xs, series) {
  into.replaceChildren();
  if (!xs.length) {
    into.append(element("p", { class: "note" }, "nothing loaded in these months"));
    return;
  }
  // A chart drawn in a hidden tab has no width to measure: it takes the widest.
  const width = Math.min(Math.max(into.parentElement.clientWidth || 720, 420), 720);
  // eslint-disable-next-line no-undef
  new uPlot({
    title, width, height: 200,
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: colour(s.label), width: 2,
      points: { show: true, size: 5 }, spanGaps: false }))],
    axes: [{}, { values: (u, ticks) => ticks.map((v) => compact.format(v)), size: 60 }],
  }, [xs, ...series.map((s) => s.values)], into);
}

function drawCards(summaries) {
  const cards = summaries.map((s) => {
    const lag = s.freshness_lag_days > 0 ? `${s.freshness_lag_days.toFixed(1)} days` : "none";
    const rows = [
      ["months loaded", number.format(s.months_loaded)],
      ["last loaded", s.last_loaded_month || "none"],
      ["last published", s.last_published_month || "none"],
      ["freshness lag", lag, s.freshness_lag_days > 0],
      ["rows", number.format(s.rows_total)],
      ["last load", s.last_load_seconds === null ? "none"
        : `${s.last_load_seconds.toFixed(1)} s, ${number.format(Math.round(s.last_load_rows_per_second))} rows/s`],
      ["failed months", s.failed_months, s.failed_months > 0],
      ["quality failed", s.quality_failed_months, s.quality_failed_months > 0],
    ];
    const list = element("dl");
    for (const [term, value, bad] of rows) list.append(element("dt", {}, term), element("dd", bad ? { class: "bad" } : {}, String(value)));
    return element("div", { class: "card", "data-testid": `summary-${s.taxi}` }, element("h3", {}, s.taxi), list);
  });
  $("summaries").replaceChildren(...cards);
  $("legend").replaceChildren(...Object.entries(STATES).map(([state, label]) =>
    element("span", { style: `--swatch: var(--${state})` }, label)));
}

function drawGrid(cells) {
  const taxis = [...new Set(cells.map((c) => c.taxi))];
  const months = [...new Set(cells.map((c) => c.month))].sort().reverse();
  const at = new Map(cells.map((c) => [`${c.taxi} ${c.month}`, c]));
  const head = element("tr", {}, element("th", {}, "month"), ...taxis.map((t) => element("th", {}, t)));
  const body = months.map((month) => element("tr", {}, element("th", {}, month), ...taxis.map((taxi) => {
    const c = at.get(`${taxi} ${month}`);
    if (!c) return element("td", { class: "none" });
    const text = c.rows !== null && ["loaded", "unchanged", "quality_failed"].includes(c.state)
      ? number.format(c.rows) : STATES[c.state];
    const title = `${taxi} ${month}: ${STATES[c.state]}${c.detail ? ` - ${c.detail}` : ""}`;
    const content = c.run_id
      ? element("a", { href: `${AIRFLOW}/dags/${encodeURIComponent(c.dag_id)}/runs/${encodeURIComponent(c.run_id)}`, title }, text)
      : element("span", { title }, text);
    content.addEventListener("click", openInAirflow);
    return element("td", { class: `cell ${c.state}`, "data-testid": `cell-${taxi}-${month}`, "data-state": c.state,
      title }, content);
  })));
  $("grid").replaceChildren(element("thead", {}, head), element("tbody", {}, ...body));
}

// Inside Airflow's UI the page is a sandboxed iframe that may not navigate the top window; it is of
// the same origin, so a click moves the UI's own router (history + popstate) to the run instead.
function openInAirflow(event) {
  if (window.top === window || !event.currentTarget.href) return;
  event.preventDefault();
  const url = new URL(event.currentTarget.href);
  window.top.history.pushState({}, "", url.pathname + url.search);
  window.top.dispatchEvent(new PopStateEvent("popstate"));
}

function drawLoadCharts(status) {
  const taxis = [...new Set(status.cells.map((c) => c.taxi))];
  const months = [...new Set(status.cells.map((c) => c.month))].sort();
  const rowsAt = new Map(status.cells.filter((c) => c.rows !== null).map((c) => [`${c.taxi} ${c.month}`, c.rows]));
  chart($("chart-rows"), "rows in the file, the newest load of each month", months.map(monthTime),
    taxis.map((t) => ({ label: t, values: months.map((m) => rowsAt.get(`${t} ${m}`) ?? null) })));
  // Load seconds and rows/s per load, over the time each finished (a re-load is a point of its own).
  const times = [...new Set(status.loads.map((l) => Date.parse(l.finished_at) / 1000))].sort((a, b) => a - b);
  const perLoad = (field) => taxis.map((t) => {
    const at = new Map(status.loads.filter((l) => l.taxi === t).map((l) => [Date.parse(l.finished_at) / 1000, l[field]]));
    return { label: t, values: times.map((x) => at.get(x) ?? null) };
  });
  chart($("chart-seconds"), "seconds per load, by when it finished", times, perLoad("seconds"));
  chart($("chart-rate"), "rows per second per load", times, perLoad("rows_per_second"));
}

function drawAnalytics(data) {
  $("analytics-tab").hidden = !data.available;
  if (!data.available) return;
  $("mart").textContent = `From the dbt mart ${data.mart} (trips and total_amount by pickup borough).`;
  const months = [...new Set(data.rows.map((r) => r.month))].sort();
  const services = [...new Set(data.rows.map((r) => r.service_type))].sort();
  // A month a service has no rows for is a gap, not a zero.
  const sum = (field, keep) => months.map((m) => {
    const rows = data.rows.filter((r) => r.month === m && keep(r));
    return rows.length ? rows.reduce((total, r) => total + r[field], 0) : null;
  });
  chart($("chart-trips"), "trips per month", months.map(monthTime),
    services.map((s) => ({ label: s, values: sum("trips", (r) => r.service_type === s) })));
  chart($("chart-revenue"), "revenue (total_amount) per month", months.map(monthTime),
    services.map((s) => ({ label: s, values: sum("revenue", (r) => r.service_type === s) })));
  const boroughs = new Map();
  for (const r of data.rows) {
    const b = boroughs.get(r.borough) || { trips: 0, revenue: 0 };
    b.trips += r.trips; b.revenue += r.revenue;
    boroughs.set(r.borough, b);
  }
  const sorted = [...boroughs.entries()].sort((a, b) => b[1].revenue - a[1].revenue);
  $("boroughs").replaceChildren(
    element("thead", {}, element("tr", {}, ...["borough", "trips", "revenue", "per trip"].map((h) => element("th", {}, h)))),
    element("tbody", {}, ...sorted.map(([name, b]) => element("tr", { "data-testid": `borough-${name}` },
      element("th", {}, name), element("td", {}, number.format(b.trips)),
      element("td", {}, `$${number.format(Math.round(b.revenue))}`),
      element("td", {}, b.trips ? `$${(b.revenue / b.trips).toFixed(2)}` : "")))));
}

function showTab(name) {
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== name;
}

async function main() {
  const query = new URLSearchParams(location.search);
  for (const name of ["from", "to"]) $(name).value = query.get(name) || "";
  for (const button of document.querySelectorAll("#tabs button")) button.addEventListener("click", () => showTab(button.dataset.tab));
  try {
    const status = await getJson("api/status");
    $("target").replaceChildren(...status.targets.map((t) => element("option", t === status.target ? { selected: "" } : {}, t)));
    say(status.ok ? "" : `The ${status.target} audit table could not be read: ${status.error}`);
    drawCards(status.summaries);
    drawGrid(status.cells);
    drawLoadCharts(status);
    document.body.dataset.loaded = "status";
    drawAnalytics(await getJson("api/analytics"));
    if (query.get("tab") === "analytics" && !$("analytics-tab").hidden) showTab("analytics");
    document.body.dataset.loaded = "all";
    performance.mark("taxi-loads-drawn");  // make bench reads it: the page's load time, data and charts drawn
  } catch (error) {
    say(error.message);
    document.body.dataset.loaded = "error";
  }
}

main();
