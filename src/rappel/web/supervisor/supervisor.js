// Supervisor dashboard: live queues, agents and campaigns; today's charts; campaign actions.
import { $, api, duration, el, logout, requireLogin, toast } from "/static/rappel.js";

const REFRESH_MS = 3000;
let overviewAt = 0;
let agents = [];
let charts = null;
let openCampaign = null;

// uPlot is vendored by scripts/web-assets; without it the charts say so and the page still works.
function loadChartLibrary() {
  return new Promise((resolve) => {
    if (window.uPlot) return resolve(window.uPlot);
    const script = el("script", { src: "/static/vendor/uPlot.iife.min.js" });
    script.onload = () => resolve(window.uPlot || null);
    script.onerror = () => resolve(null);
    document.head.append(script);
  });
}

function chartOptions(title, width, series, scale) {
  return {
    title: "",
    width,
    height: 200,
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: scale || { auto: true } },
    axes: [
      { stroke: "#5d6b7e", grid: { stroke: "#eef1f6" } },
      { stroke: "#5d6b7e", grid: { stroke: "#eef1f6" }, size: 44 },
    ],
    series: [{}, ...series],
  };
}

function makeCharts(uPlot) {
  const width = (id) => Math.max(260, $(id).clientWidth || 320);
  return {
    calls: new uPlot(chartOptions("Calls", width("#chart-calls"), [
      { label: "calls", stroke: "#2f5bea", fill: "rgba(47,91,234,0.15)", width: 2, paths: uPlot.paths.bars({ size: [0.7, 40] }) },
    ], { range: (u, min, max) => [0, Math.max(4, max)] }), [[], []], $("#chart-calls")),
    abandon: new uPlot(chartOptions("Abandon", width("#chart-abandon"), [
      { label: "abandon %", stroke: "#c5283d", width: 2, spanGaps: false, points: { show: true } },
      { label: "target %", stroke: "#b86e00", width: 1.5, dash: [6, 4], points: { show: false } },
    ], { range: (u, min, max) => [0, Math.max(5, max || 0)] }), [[], [], []], $("#chart-abandon")),
    occupancy: new uPlot(chartOptions("Occupancy", width("#chart-occupancy"), [
      { label: "occupancy %", stroke: "#138a4b", fill: "rgba(19,138,75,0.12)", width: 2, points: { show: true } },
    ], { range: [0, 100] }), [[], []], $("#chart-occupancy")),
  };
}

function drawCharts(data) {
  if (!charts) return;
  const target = data.t.map(() => data.abandon_target_pct);
  charts.calls.setData([data.t, data.calls]);
  charts.abandon.setData([data.t, data.abandon_pct, target]);
  charts.occupancy.setData([data.t, data.occupancy_pct]);
}

function cell(text, cls) { return el("td", { class: cls, text }); }

function renderOverview(view) {
  overviewAt = Date.now();
  const queues = view.queues;
  const waiting = queues.reduce((n, q) => n + q.waiting, 0);
  const oldest = Math.max(-1, ...queues.map((q) => q.oldest_wait_s ?? -1));
  $("#fig-waiting").textContent = waiting;
  $("#fig-oldest").textContent = oldest < 0 ? "—" : duration(oldest);
  $("#fig-agents").textContent = view.agents.filter((a) => a.state !== "LOGGED_OUT").length;
  $("#fig-calls").textContent = view.charts.calls_today;
  $("#fig-abandoned").textContent = view.charts.abandoned_today;
  $("#queues").replaceChildren(...queues.map((q) => el("tr", { "data-queue": q.id },
    el("td", {}, el("strong", { text: q.name }), " ", el("span", { class: "hint", text: `#${q.short_id}` })),
    cell(q.waiting, "num"),
    cell(q.oldest_wait_s === null ? "—" : duration(q.oldest_wait_s), "num"),
    cell(q.estimated_wait_s === null ? (q.waiting ? "no agent" : "—") : duration(q.estimated_wait_s), "num"),
    cell(q.agents_logged_in, "num"),
  )));
  agents = view.agents;
  renderAgents();
  drawCharts(view.charts);
}

function renderAgents() {
  const drift = (Date.now() - overviewAt) / 1000;
  const rows = agents.map((a) => el("tr", { "data-agent": a.id },
    cell(a.name),
    el("td", {}, el("span", { class: `badge ${a.state}`, text: a.state.replace("_", " ") }), a.reason ? el("span", { class: "hint", text: ` ${a.reason}` }) : null),
    cell(a.time_in_state_s === null ? "—" : duration(a.time_in_state_s + drift), "num"),
  ));
  $("#agents").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 3, class: "empty", text: "No agents." }))]));
}

async function refreshCampaigns() {
  const list = await api("GET", "/RI/obi/campaigns?statistics=true");
  const rows = list.map((c) => {
    const s = (c.stats && c.stats.daily) || {};
    const active = c.status === "Active";
    const toggle = el("button", {
      type: "button", class: `small ${active ? "" : "ok"}`,
      text: active ? "Stop" : "Start",
      "aria-label": `${active ? "Stop" : "Start"} campaign ${c.name}`,
      onclick: () => setStatus(c, active ? "Passive" : "Active"),
    });
    const open = el("button", { type: "button", class: "small", text: "Customers", "aria-label": `Customers of ${c.name}`, onclick: () => openCustomers(c) });
    return el("tr", { "data-campaign": c.id },
      el("td", {}, el("strong", { text: c.name })),
      cell(c.dialingMode),
      el("td", {}, el("span", { class: `badge ${c.status}`, text: c.status })),
      cell(c.total ?? 0, "num"),
      cell(s.numberOfHandledCustomers ?? 0, "num"),
      el("td", { class: "num", "data-stat": "numberOfCalls", text: s.numberOfCalls ?? 0 }),
      cell(s.numberOfSuccessfulCalls ?? 0, "num"),
      cell(s.numberOfAbandonedCalls ?? 0, "num"),
      cell(duration(s.talkingTime ?? 0), "num"),
      el("td", {}, el("div", { class: "actions" }, toggle, open)),
    );
  });
  $("#campaigns").replaceChildren(...rows);
}

async function setStatus(campaign, status) {
  try {
    await api("PUT", `/RI/obi/campaigns/${campaign.id}/status`, status, { "Content-Type": "text/plain" });
    toast(`${campaign.name} is now ${status}`);
    await refreshCampaigns();
  } catch (error) {
    toast(error.message, true);
  }
}

async function openCustomers(campaign) {
  openCampaign = campaign;
  $("#customers-card").hidden = false;
  $("#customers-title").textContent = `Customers of ${campaign.name}`;
  $("#search-text").value = "";
  await searchCustomers();
  $("#search-text").focus();
}

async function searchCustomers() {
  const field = $("#search-field").value;
  const text = $("#search-text").value.trim();
  const query = new URLSearchParams({ limit: "50" });
  if (text) query.set(field, `*${text}*`);
  try {
    const found = await api("GET", `/RI/obi/campaigns/${openCampaign.id}/customers?${query}`);
    const rows = found.map((c) => el("tr", {},
      cell(c.externalId), cell(c.numbers), el("td", {}, el("span", { class: "badge", text: c.result })),
      cell(c.classifier || "—"), cell(c.callCount ?? 0, "num"), cell(c.date || "—"),
    ));
    $("#customers").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "empty", text: "No customer matches." }))]));
  } catch (error) {
    toast(error.message, true);
  }
}

async function refresh() {
  try {
    const [view] = await Promise.all([api("GET", "/v1/dashboard/overview"), refreshCampaigns()]);
    renderOverview(view);
    $("#live-dot").classList.remove("off");
    $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("#live-dot").classList.add("off");
    $("#updated").textContent = `not updated: ${error.message}`;
  }
}

async function main() {
  const me = await requireLogin(["supervisor", "admin"]);
  $("#who").textContent = `${me.tenant_name} · ${me.role}`;
  $("#signout").hidden = false;
  $("#signout").addEventListener("click", logout);
  $("#app").hidden = false;
  $("#customers-close").addEventListener("click", () => { $("#customers-card").hidden = true; openCampaign = null; });
  $("#customer-search").addEventListener("submit", (event) => { event.preventDefault(); searchCustomers(); });
  const uPlot = await loadChartLibrary();
  if (uPlot) {
    charts = makeCharts(uPlot);
  } else {
    for (const id of ["#chart-calls", "#chart-abandon", "#chart-occupancy"]) {
      $(id).replaceChildren(el("p", { class: "chart-fallback", text: "Charts need the vendored chart library (run scripts/web-assets); the figures above are live." }));
    }
  }
  await refresh();
  document.body.dataset.ready = "true";
  setInterval(refresh, REFRESH_MS);
  setInterval(renderAgents, 1000);
}

main();
