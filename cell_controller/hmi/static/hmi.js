// The operator page: renders the messages of cell_controller/hmi/view.py and sends commands and
// acknowledgements on the WebSocket (cell_controller/hmi/web.py). No framework; uPlot for the trends.
"use strict";

// Where each PackML state sits in the diagram (column, row), after the OPC 30050 figure.
const LAYOUT = {
  Unsuspending: [1, 0], Suspended: [2, 0], Suspending: [3, 0],
  Idle: [0, 1], Starting: [1, 1], Execute: [2, 1], Completing: [3, 1], Complete: [4, 1],
  Resetting: [0, 2], Unholding: [1, 2], Held: [2, 2], Holding: [3, 2],
  Stopped: [0, 3], Stopping: [1, 3], Clearing: [2, 3], Aborted: [3, 3], Aborting: [4, 3],
};
const COMMANDS = ["reset", "start", "stop", "hold", "unhold", "suspend", "unsuspend", "abort", "clear"];
const MODES = ["production", "maintenance", "manual"];
const MODE_CHANGE_STATES = ["Stopped", "Idle", "Aborted"];
// The trends: title, unit, [source series, index in its samples], [setpoint index] (setpoints: V, wire, travel)
const TRENDS = [
  ["current", "A", "process", 1, null],
  ["voltage", "V", "process", 2, 1],
  ["wire feed", "m/min", "process", 3, 2],
  ["travel speed", "mm/s", "tracker", 1, 3],
  ["pool width", "mm", "process", 4, null],
];

const page = {
  hello: null, state: {}, alive: false, devices: {}, alarms: null, socket: null, nextId: 1,
  series: {process: [], tracker: [], setpoints: []}, charts: [], dirty: false, newStamps: [],
};
// What tests and the benchmark read: when each state was shown, and each sample's topic-to-screen latency (s).
window.hmiStats = {states: [], latencies: []};

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, text = "") => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== "") node.textContent = text;
  return node;
};
const clock = (unixS) => (unixS ? new Date(unixS * 1000).toLocaleTimeString() : "");
const isOperator = () => page.hello && page.hello.role === "operator";

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  page.socket = socket;
  socket.onopen = () => { $("link").hidden = true; };
  socket.onclose = () => {
    if (page.socket !== socket) return;
    $("link").hidden = false;
    page.alive = false;
    render();
    setTimeout(connect, 1000);
  };
  socket.onmessage = (event) => receive(JSON.parse(event.data));
}

function reconnect() {
  const old = page.socket;
  page.socket = null;
  if (old) old.close();
  connect();
}

function receive(message) {
  switch (message.type) {
    case "hello": page.hello = message; $("trend-window").textContent = message.trend_window_s; drawDiagram(); break;
    case "state":
      page.state = message.values; page.alive = message.alive;
      window.hmiStats.states.push([message.alive ? message.values.state : "", Date.now() / 1000]);
      break;
    case "device": page.devices[message.role] = message; renderDevices(); return;
    case "trend": addTrend(message); return;
    case "parts": renderParts(message.rows); return;
    case "kpis": renderKpis(message.rows); return;
    case "alarms": page.alarms = message; renderAlarms(); return;
    case "answer": showAnswer(message); return;
  }
  render();
}

function send(request) {
  request.id = `r${page.nextId++}`;
  if (page.socket && page.socket.readyState === WebSocket.OPEN) page.socket.send(JSON.stringify(request));
  return request.id;
}

function showAnswer(message) {
  const box = $("answer");
  box.textContent = message.result === "accepted" ? "accepted" : `refused: ${message.reason}`;
  box.className = `message ${message.result}`;
}

// -- the PackML diagram, commands and unit modes -------------------------------------------------
function drawDiagram() {
  const svg = $("diagram");
  svg.replaceChildren();
  for (const [name, [col, row]] of Object.entries(LAYOUT)) {
    const g = document.createElementNS("http://www.w3.org/2000/svg", "g");
    g.dataset.state = name;
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    Object.entries({x: 6 + col * 122, y: 8 + row * 60, width: 110, height: 40}).forEach(([k, v]) => rect.setAttribute(k, v));
    const text = document.createElementNS("http://www.w3.org/2000/svg", "text");
    text.setAttribute("x", 61 + col * 122);
    text.setAttribute("y", 28 + row * 60);
    text.textContent = name;
    g.append(rect, text);
    svg.append(g);
  }
  const commands = $("commands");
  commands.replaceChildren(...COMMANDS.map((c) => {
    const b = el("button", {type: "button", "data-command": c}, c[0].toUpperCase() + c.slice(1));
    b.onclick = () => send({type: "command", command: c});
    return b;
  }));
  const modes = $("modes");
  modes.replaceChildren(...MODES.map((m) => {
    const b = el("button", {type: "button", "data-mode": m}, m);
    b.onclick = () => send({type: "command", command: `mode ${m}`});
    return b;
  }));
}

function render() {
  const s = page.state;
  const state = page.alive ? (s.state || "") : "";
  const badge = $("cell-state");
  badge.textContent = state || "no supervisor";
  badge.className = `badge ${["Aborted", "Aborting", ""].includes(state) ? "bad" :
    ["Held", "Holding", "Suspended", "Suspending", "Stopped"].includes(state) ? "warn" : "ok"}`;
  $("unit-mode").textContent = s.unit_mode ? `mode: ${s.unit_mode}` : "";
  $("unit-mode").hidden = !s.unit_mode;
  $("stop-reason").textContent = s.stop_reason ? `stop reason: ${s.stop_reason}` : "";
  $("flow").textContent = s.shift_id ? `shift ${s.shift_id}: ${s.parts_done}/${s.parts_target} parts, ` +
    `${s.good} good, ${s.defective} defective, ${s.needs_inspection || 0} to inspect; ` +
    `${s.step ? "step " + s.step : "no step"}${s.warning ? "; " + s.warning : ""}` : "";
  const modeStates = page.hello && s.unit_mode ? page.hello.mode_states[s.unit_mode] || [] : [];
  document.querySelectorAll("#diagram g").forEach((g) => {
    g.classList.toggle("current", g.dataset.state === state);
    g.classList.toggle("absent", modeStates.length > 0 && !modeStates.includes(g.dataset.state));
  });
  const available = page.alive ? (s.available || "").split(",") : [];
  const operator = isOperator();
  document.querySelectorAll("#commands button").forEach((b) => {
    b.disabled = !(operator && available.includes(b.dataset.command));
  });
  document.querySelectorAll("#modes button").forEach((b) => {
    const current = b.dataset.mode === (s.unit_mode || "").toLowerCase();
    b.classList.toggle("current", current);
    b.disabled = !(operator && page.alive && !current && MODE_CHANGE_STATES.includes(state));
  });
  const hello = page.hello || {};
  $("login").hidden = Boolean(hello.user) || !hello.can_log_in;
  $("who").hidden = !hello.user;
  $("who-name").textContent = hello.user ? `${hello.user} (${hello.role})` : "";
  if (page.alarms) renderAlarms();
}

// -- devices --------------------------------------------------------------------------------------
function renderDevices() {
  const body = $("devices").tBodies[0];
  body.replaceChildren(...Object.values(page.devices).sort((a, b) => a.role.localeCompare(b.role)).map((d) => {
    const row = el("tr", {class: `level-${d.level}`, "data-device": d.role});
    const age = d.values.data_age_s !== undefined ? `${Number(d.values.data_age_s).toFixed(2)} s` : "";
    [d.role, d.state, d.values.backend || "", d.values.lifecycle || "", age, d.values.safety || "", d.detail].forEach((text) => row.append(el("td", {}, text)));
    return row;
  }));
}

// -- alarms ---------------------------------------------------------------------------------------
function renderAlarms() {
  const a = page.alarms;
  $("flood").hidden = !a.flood;
  $("alarm-rate").textContent = `${a.raised_in_window} raised in ${a.window_s / 60} min`;
  $("alarms").tBodies[0].replaceChildren(...a.active.map((alarm) => {
    const row = el("tr", {class: `alarm-${alarm.priority} state-${alarm.state.split(",")[0]}`, "data-alarm": alarm.tag});
    [alarm.priority, `${alarm.tag}: ${alarm.text}`, alarm.state + (alarm.acknowledged_by ? ` by ${alarm.acknowledged_by}` : ""),
      clock(alarm.raised_at)].forEach((text) => row.append(el("td", {}, text)));
    const ack = el("button", {type: "button", "data-ack": alarm.tag}, "Acknowledge");
    ack.disabled = !isOperator() || alarm.state === "acknowledged";
    ack.onclick = () => send({type: "ack", tag: alarm.tag});
    const cell = el("td");
    cell.append(ack);
    row.append(cell);
    return row;
  }));
  $("alarm-history").tBodies[0].replaceChildren(...a.history.map((alarm) => {
    const row = el("tr", {"data-history": alarm.tag});
    [`${alarm.tag}: ${alarm.text}`, clock(alarm.raised_at),
      `${clock(alarm.acknowledged_at)} ${alarm.acknowledged_by}`, clock(alarm.cleared_at)].forEach((t) => row.append(el("td", {}, t)));
    return row;
  }));
}

// -- parts and KPIs -------------------------------------------------------------------------------
const fixed = (x, digits) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));

function renderParts(rows) {
  $("parts").tBodies[0].replaceChildren(...rows.map((p) => {
    const row = el("tr", {class: "part", "data-part": p.part_id, title: p.reason || "open the weld's plot"});
    [p.part_id, p.outcome, p.level, p.imperfections.join(", "), fixed(p.cycle_time_s, 1), fixed(p.arc_energy_kJ, 1),
      fixed(p.energy_kWh, 4)].forEach((text, i) => row.append(el("td", i === 2 ? {class: `level-${p.level}`} : {}, text)));
    row.onclick = () => openWeld(p.part_id);
    return row;
  }));
}

function renderKpis(rows) {
  $("kpis").tBodies[0].replaceChildren(...rows.map(([name, value, unit]) => {
    const row = el("tr");
    row.append(el("td", {}, name), el("td", {}, value === "n/a" ? value : `${value} ${unit}`));
    return row;
  }));
}

async function openWeld(partId) {
  $("weld-title").textContent = `Weld of ${partId}`;
  $("weld-plot").replaceChildren();
  $("weld-message").textContent = "";
  $("weld-dialog").showModal();
  const response = await fetch(`/api/weld/${encodeURIComponent(partId)}`);
  const body = await response.json();
  if (!response.ok) { $("weld-message").textContent = body.reason; return; }
  const columns = body.fields.map((_, i) => body.samples.map((s) => s[i]));
  new uPlot({
    width: 720, height: 300, scales: {x: {time: false}},
    axes: [{label: "time since arc on, s"}, {scale: "A", label: "A"}, {scale: "other", side: 1, label: "V, m/min, mm, mm/s"}],
    series: [{}, {label: "current A", scale: "A", stroke: "#2f6fde"}, {label: "voltage V", scale: "other", stroke: "#c0392b"},
      {label: "wire feed m/min", scale: "other", stroke: "#16a085"}, {label: "pool width mm", scale: "other", stroke: "#8e44ad"},
      {label: "travel speed mm/s", scale: "other", stroke: "#d35400"}],
  }, columns, $("weld-plot"));
}

// -- trends ---------------------------------------------------------------------------------------
function makeCharts() {
  const box = $("trends");
  page.charts = TRENDS.map(([title, unit, , , setpoint]) => {
    const series = [{}, {label: `${title} ${unit}`, stroke: "#2f6fde", spanGaps: true}];
    if (setpoint !== null) series.push({label: "setpoint", stroke: "#c0392b", dash: [6, 4], spanGaps: true});
    const holder = el("div", {"data-trend": title});
    holder.append(el("div", {class: "trend-title"}, `${title}, ${unit}` + (setpoint !== null ? " (dashed: setpoint)" : "")));
    box.append(holder);
    return new uPlot({width: 300, height: 130, legend: {show: false}, scales: {x: {time: false}},
      axes: [{values: (u, ticks) => ticks.map((t) => `${(t - latestStamp()).toFixed(0)}`)}, {}], series},
    setpoint !== null ? [[], [], []] : [[], []], holder);
  });
}

function latestStamp() {
  const p = page.series.process;
  return p.length ? p[p.length - 1][0] : 0;
}

function addTrend(message) {
  for (const key of ["process", "tracker", "setpoints"]) page.series[key].push(...message[key]);
  for (const s of message.process) page.newStamps.push(s[0]);
  const windowS = page.hello ? page.hello.trend_window_s : 60;
  const newest = Math.max(...["process", "tracker", "setpoints"].map((k) => {
    const arr = page.series[k];
    return arr.length ? arr[arr.length - 1][0] : 0;
  }));
  for (const key of ["process", "tracker", "setpoints"]) {
    const arr = page.series[key];
    let drop = 0;
    while (drop < arr.length && arr[drop][0] < newest - windowS) drop++;
    if (drop) arr.splice(0, drop);
  }
  page.dirty = true;
}

function drawTrends() {
  if (page.dirty && page.charts.length) {
    page.dirty = false;
    TRENDS.forEach(([, , source, index, setpoint], i) => {
      const actual = [page.series[source].map((s) => s[0]), page.series[source].map((s) => s[index])];
      const data = setpoint === null ? actual :
        uPlot.join([actual, [page.series.setpoints.map((s) => s[0]), page.series.setpoints.map((s) => s[setpoint])]]);
      page.charts[i].setData(data);
    });
    const now = Date.now() / 1000;
    const stats = window.hmiStats.latencies;
    for (const stamp of page.newStamps) stats.push(now - stamp);
    if (stats.length > 50000) stats.splice(0, stats.length - 50000);
    page.newStamps = [];
  }
  requestAnimationFrame(drawTrends);
}

// -- login ----------------------------------------------------------------------------------------
$("login").onsubmit = async (event) => {
  event.preventDefault();
  const response = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({user: $("login-user").value, password: $("login-password").value})});
  const body = await response.json();
  $("login-password").value = "";
  $("login-message").textContent = response.ok ? "" : `login refused: ${body.reason}`;
  if (response.ok) { page.hello = body; render(); reconnect(); }
};
$("logout").onclick = async () => {
  const response = await fetch("/api/logout", {method: "POST"});
  page.hello = await response.json();
  render();
  reconnect();
};

makeCharts();
connect();
requestAnimationFrame(drawTrends);
