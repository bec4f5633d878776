// Agent desktop: state, live offers over server-sent events, call handling, wrap-up, own stats.
import { $, api, duration, el, logout, requireLogin, toast, clockTime } from "/static/rappel.js";

// The engine's agent API. Each action names the callback on the agent's desk.
const AGENT = {
  login: () => api("POST", "/v1/agent/login", {}),
  ready: () => api("POST", "/v1/agent/ready"),
  pause: (reason) => api("POST", "/v1/agent/pause", { reason }),
  logout: () => api("POST", "/v1/agent/logout"),
  accept: (id) => api("POST", `/v1/agent/offers/${id}/accept`),
  reject: (id) => api("POST", `/v1/agent/offers/${id}/reject`),
  dial: (customerId) => api("POST", `/v1/agent/preview/${customerId}/dial`),
  skip: (customerId) => api("POST", `/v1/agent/preview/${customerId}/skip`),
  hangup: (id) => api("POST", `/v1/agent/calls/${id}/hangup`),
  wrapup: (id, body) => api("POST", `/v1/agent/calls/${id}/wrapup`, body),
};

const TYPE_NAMES = { 0: "unknown", 1: "ASAP", 2: "scheduled" };
const FLOW_NAMES = {
  CUSTOMER_FIRST: "customer first (IVR)", AGENT_FIRST: "agent first",
  SCHEDULED: "at a chosen time", ASAP: "as soon as possible",
};

let desk = null;
let deskAt = 0;
let events = null;

async function refresh() {
  try {
    desk = await api("GET", "/v1/dashboard/desk");
    deskAt = Date.now();
    render();
  } catch (error) {
    toast(error.message, true);
  }
}

function fact(list, name, value) {
  list.append(el("dt", { text: name }), el("dd", { text: value === null || value === undefined || value === "" ? "—" : value }));
}

function render() {
  const state = desk.state;
  const badge = $("#state");
  badge.textContent = state.replace("_", " ");
  badge.className = `badge ${state}`;
  $("#state-since").textContent = desk.reason ? `(${desk.reason})` : "";
  $("#phone").textContent = desk.phone ? `Calls ring ${desk.phone}` : "No phone set: calls cannot reach you on a SIP node";
  $("#ready").disabled = state === "READY" || ["PREVIEW", "DIALING", "TALKING", "WRAPUP"].includes(state);
  $("#pause").disabled = ["PREVIEW", "DIALING", "TALKING", "WRAPUP"].includes(state);
  $("#logout-agent").disabled = state === "LOGGED_OUT";
  $("#stat-handled").textContent = desk.today.handled;
  $("#stat-talk").textContent = duration(desk.today.talk_s);
  $("#stat-pause").textContent = duration(desk.today.pause_s);
  tick();

  const work = desk.work;
  $("#no-work").hidden = Boolean(work);
  $("#work").hidden = !work;
  $("#wrapup").hidden = !(work && state === "WRAPUP");
  if (!work) { $("#work-kind").textContent = ""; return; }
  const preview = work.dialing_mode === "PREVIEW";
  $("#work-kind").textContent = work.campaign ? `${work.campaign.name} · ${work.dialing_mode || ""}` : "web callback";
  $("#offer-actions").hidden = !(state === "PREVIEW" && !preview);
  $("#preview-actions").hidden = !(state === "PREVIEW" && preview);
  $("#call-actions").hidden = !["DIALING", "TALKING"].includes(state);
  const call = work.call;
  const words = {
    PREVIEW: preview ? "Preview: read the record, then dial or skip" : "New callback offered to you",
    DIALING: call && call.state === "connected" ? "Connected" : "Dialing the customer…",
    TALKING: "Talking with the customer",
    WRAPUP: "Call ended: wrap up",
  };
  $("#call-state").textContent = words[state] || state;
  const facts = $("#facts");
  facts.replaceChildren();
  fact(facts, "Customer", work.customer_number);
  const name = (work.ext_transaction_data.find(([n]) => n === "Name") || [])[1];
  if (name) fact(facts, "Name", name);
  fact(facts, "Callback type", `${TYPE_NAMES[work.callback_type] || work.callback_type} — ${FLOW_NAMES[work.flow] || work.flow}`);
  fact(facts, "Window", `${clockTime(work.start_time)} – ${work.end_time ? clockTime(work.end_time) : "open"}`);
  if (call) fact(facts, "Call", `${call.state}${call.answered_at ? " since " + clockTime(call.answered_at) : ""}`);
  const ext = $("#ext-data");
  ext.replaceChildren();
  if (!work.ext_transaction_data.length) ext.append(el("dd", { class: "empty", text: "none" }));
  for (const [n, v] of work.ext_transaction_data) fact(ext, n, v);
  for (const a of work.customer.attributes || []) fact(ext, a.name, a.value);
  const dip = $("#dip-data");
  dip.replaceChildren();
  const params = Object.entries(work.session_parameters || {});
  if (!params.length) dip.append(el("dd", { class: "empty", text: "none" }));
  for (const [n, v] of params) fact(dip, n, v);
  $("#wu-callback-wrap").hidden = $("#wu-result").value !== "CALLBACK";
}

function tick() {
  if (!desk) return;
  const since = desk.time_in_state_s === null ? null : desk.time_in_state_s + (Date.now() - deskAt) / 1000;
  const tail = since === null || desk.state === "LOGGED_OUT" ? "" : ` for ${duration(since)}`;
  $("#state").setAttribute("title", `in this state${tail}`);
  $("#state-since").textContent = `${desk.reason ? "(" + desk.reason + ") " : ""}${tail}`;
}

function listen() {
  events = new EventSource("/v1/agent/events");
  const live = (on) => {
    $("#live-dot").classList.toggle("off", !on);
    $("#live").textContent = on ? "live" : "reconnecting…";
  };
  events.onopen = () => { live(true); refresh(); };
  events.onerror = () => live(false);
  // Whatever the event (offer, state, call progress), the desk is read again in full.
  events.onmessage = () => refresh();
  for (const name of ["offer", "state", "call", "agent", "interaction", "withdrawn", "ping"]) {
    events.addEventListener(name, () => { if (name !== "ping") refresh(); });
  }
}

async function act(action) {
  try {
    await action();
    await refresh();
  } catch (error) {
    toast(error.message, true);
    await refresh();
  }
}

function codes(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((item) => {
    const [list_name, code_short, ...rest] = item.split(":");
    return { list_name: (list_name || "").trim(), code_short: (code_short || "").trim(), code_desc: rest.join(":").trim() };
  });
}

async function wrapUp(pause) {
  const error = $("#wu-error");
  error.textContent = "";
  const amount = $("#wu-amount").value;
  const body = {
    result: $("#wu-result").value,
    classifier: $("#wu-classifier").value || null,
    notes: $("#wu-notes").value || null,
    amount: amount === "" ? null : Number(amount),
    transaction_codes: codes($("#wu-codes").value),
    answers: [...document.querySelectorAll("[data-question]")]
      .filter((input) => input.value.trim())
      .map((input) => ({ question: input.dataset.question, answer: input.value.trim() })),
  };
  if (body.result === "CALLBACK" && $("#wu-callback").value) {
    body.callback_at = new Date($("#wu-callback").value).toISOString();
  }
  if (pause) body.pause_reason = $("#pause-reason").value;
  try {
    await AGENT.wrapup(desk.work.interaction_id, body);
    $("#wrapup").reset();
    toast("Wrap-up saved");
    await refresh();
  } catch (failure) {
    error.textContent = failure.message;
  }
}

async function main() {
  const me = await requireLogin(["agent"]);
  $("#who").textContent = `${me.tenant_name} · agent`;
  $("#signout").hidden = false;
  $("#signout").addEventListener("click", async () => { events && events.close(); try { await AGENT.logout(); } catch { /* already out */ } logout(); });
  $("#app").hidden = false;
  $("#ready").addEventListener("click", () => act(async () => {
    if (desk && desk.state === "LOGGED_OUT") await AGENT.login();
    await AGENT.ready();
  }));
  $("#pause").addEventListener("click", () => act(async () => {
    if (desk && desk.state === "LOGGED_OUT") await AGENT.login();
    await AGENT.pause($("#pause-reason").value);
  }));
  $("#logout-agent").addEventListener("click", () => act(AGENT.logout));
  $("#accept").addEventListener("click", () => act(() => AGENT.accept(desk.work.interaction_id)));
  $("#reject").addEventListener("click", () => act(() => AGENT.reject(desk.work.interaction_id)));
  $("#dial").addEventListener("click", () => act(() => AGENT.dial(desk.work.customer.id)));
  $("#skip").addEventListener("click", () => act(() => AGENT.skip(desk.work.customer.id)));
  $("#hangup").addEventListener("click", () => act(() => AGENT.hangup(desk.work.interaction_id)));
  $("#wu-result").addEventListener("change", () => { $("#wu-callback-wrap").hidden = $("#wu-result").value !== "CALLBACK"; });
  $("#wrapup").addEventListener("submit", (event) => { event.preventDefault(); wrapUp(false); });
  $("#wu-pause").addEventListener("click", () => wrapUp(true));
  await refresh();
  listen();
  setInterval(tick, 1000);
  // A safety net behind the event stream: re-read the desk every 15 s.
  setInterval(refresh, 15000);
}

main();
