// pownode's dashboard: pages routed by the URL's hash, drawn from the node's own JSON API and
// WebSocket. Every value reaches the page as text (textContent), never as markup, so nothing a
// transaction, a contract event or a meter's serial holds can run in the browser. The live
// view redraws at most once a second, and asks the API at most once a second.
"use strict";

const REFRESH_MS = 1000;      // the overview's redraw tick
const IDLE_REFRESH_MS = 5000; // without a new block, the overview asks the node this often
const CHART_S = 120;          // seconds of committed tx/s on the overview's chart
const RECENT_BLOCKS = 10;
const DEFAULT_INTERVAL_MS = 900000; // ledger.genesis.DEFAULT_INTERVAL_MS

const state = { genesis: null, names: new Map(), blocks: new Map(), arrivals: [], dirty: true, lastRefresh: 0,
                busy: false, backoff: 500, opened: Date.now() };

// --- small helpers ------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function link(href, text, cls) { return el("a", cls ? { href, class: cls } : { href }, text); }
function short(hex) { return typeof hex === "string" && hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : String(hex); }
function when(ms) { return Number.isSafeInteger(ms) ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "?"; }
function num(n) { return Number.isFinite(n) ? n.toLocaleString("en") : "?"; }

class ApiError extends Error {}

async function api(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" } });
  } catch (exc) {
    throw new ApiError(`the node did not answer ${path}`);
  }
  let body = null;
  try { body = await response.json(); } catch (exc) { /* not JSON: reported below */ }
  if (!response.ok) {
    if (body && typeof body.error === "string") throw new ApiError(body.error);
    if (body && typeof body.status === "string") throw new ApiError(`${path}: ${body.status} to this node`);
    throw new ApiError(`HTTP ${response.status} for ${path}`);
  }
  if (body === null || typeof body !== "object") throw new ApiError(`${path}: the answer is not a JSON object`);
  return body;
}

function show(...children) {
  const view = document.getElementById("view");
  view.replaceChildren(...children);
}

function showError(message) {
  show(el("div", { class: "error", id: "error", role: "alert" }, message));
}

function fields(pairs) {
  const list = el("dl", { class: "fields" });
  for (const [name, value, id] of pairs) {
    list.append(el("dt", {}, name), id ? el("dd", { id }, value) : el("dd", {}, value));
  }
  return list;
}

function table(headers, rows, id) {
  const head = el("tr", {}, ...headers.map(([text, cls]) => el("th", cls ? { class: cls } : {}, text)));
  const body = el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((cell, i) =>
    el("td", headers[i][1] ? { class: headers[i][1] } : {}, cell)))));
  return el("div", { class: "scroll" }, el("table", id ? { id } : {}, el("thead", {}, head), body));
}

function validatorName(key) { return state.names.get(key) || short(key); }

async function genesis() {
  if (state.genesis === null) {
    const doc = await api("/genesis");
    state.genesis = doc;
    for (const v of Array.isArray(doc.validators) ? doc.validators : []) {
      if (v && typeof v.public_key === "string") state.names.set(v.public_key, String(v.name || short(v.public_key)));
    }
    document.getElementById("chain-id").textContent = String(doc.chain_id || "this node");
  }
  return state.genesis;
}

async function block(height) {
  if (!state.blocks.has(height)) {
    state.blocks.set(height, await api(`/blocks/${height}`));
    if (state.blocks.size > 64) state.blocks.delete(Math.min(...state.blocks.keys()));
  }
  return state.blocks.get(height);
}

// --- the live stream ----------------------------------------------------------------------

function setLive(on) {
  const badge = document.getElementById("live");
  badge.textContent = on ? "live" : "reconnecting";
  badge.classList.toggle("on", on);
}

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  socket.onopen = () => { state.backoff = 500; setLive(true); };
  socket.onmessage = (message) => {
    let doc;
    try { doc = JSON.parse(message.data); } catch (exc) { return; }
    if (doc && doc.type === "block" && Number.isSafeInteger(doc.height) && Array.isArray(doc.txs)) {
      state.arrivals.push({ t: Date.now(), height: doc.height, txs: doc.txs.length });
      const cutoff = Date.now() - CHART_S * 1000;
      while (state.arrivals.length && state.arrivals[0].t < cutoff) state.arrivals.shift();
      state.dirty = true;
    }
  };
  socket.onclose = () => {
    setLive(false);
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 30000);
  };
}

// --- pages --------------------------------------------------------------------------------

function chart() {
  // Seconds before the page opened are not drawn: the stream only tells what committed since.
  const width = 1000, height = 170, pad = 24;
  const now = Date.now();
  const seen = Math.min(CHART_S, Math.max(2, Math.ceil((now - state.opened) / 1000)));
  const perSecond = new Array(seen).fill(0);
  for (const a of state.arrivals) {
    const age = Math.floor((now - a.t) / 1000);
    if (age >= 0 && age < seen) perSecond[seen - 1 - age] += a.txs;
  }
  const top = Math.max(10, ...perSecond);
  const x = (i) => pad + ((CHART_S - seen + i) * (width - 2 * pad)) / (CHART_S - 1);
  const y = (v) => height - pad - (v * (height - 2 * pad)) / top;
  const points = perSecond.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "tx-chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `committed transactions per second over the last ${CHART_S} s`);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  add("polygon", { class: "area", points: `${x(0)},${y(0)} ${points} ${x(seen - 1)},${y(0)}` });
  add("polyline", { class: "line", points });
  add("text", { x: pad, y: 14 }, `${num(top)} tx/s`);
  add("text", { x: pad, y: height - 6 }, `-${CHART_S} s`);
  add("text", { x: width - pad - 24, y: height - 6 }, "now");
  return svg;
}

async function overview() {
  const [status, set] = await Promise.all([api("/status"), api("/validators"), genesis()]);
  const height = Number(status.height);
  const recent = [];
  for (let h = height; h >= Math.max(1, height - RECENT_BLOCKS + 1); h--) recent.push(await block(h));
  const proposed = new Map();
  for (const b of recent) proposed.set(b.proposer, (proposed.get(b.proposer) || 0) + 1);
  const validators = Array.isArray(set.validators) ? set.validators : [];
  const total = validators.reduce((sum, v) => sum + (Number(v.power) || 0), 0);
  show(
    el("h1", {}, "Overview"),
    el("div", { class: "cards" },
      ...[["height", num(height), "height"], ["committed tx/s", num(status.tx_per_s), "tx-per-s"],
          ["mempool", num(status.mempool), "mempool"], ["peers", num((status.peers || []).length), "peers"],
          ["consensus", String(status.consensus), "consensus"], ["view", status.view === null ? "—" : num(status.view), "view"],
          ["view changes", num(status.view_changes), "view-changes"], ["this node", `${status.name} (${status.role})`, "node"]]
        .map(([label, value, id]) => el("div", { class: "card" }, el("div", { class: "label" }, label),
          el("div", { class: "value", id }, value)))),
    el("h2", {}, "Committed transactions per second"),
    chart(),
    el("h2", {}, `Validators (${validators.length}, voting power ${num(total)})`),
    table([["validator"], ["public key"], ["power", "num"], ["share", "num"], [`proposed of the last ${recent.length}`, "num"],
           ["linked to this node"]],
          validators.map((v) => [validatorName(v.public_key), el("span", { class: "mono" }, short(v.public_key)),
            num(v.power), total ? `${((100 * v.power) / total).toFixed(1)} %` : "—", num(proposed.get(v.public_key) || 0),
            v.connected ? el("span", { class: "ok" }, "yes") : el("span", { class: "bad" }, "no")]), "validators"),
    el("h2", {}, "Recent blocks"),
    table([["height", "num"], ["time (UTC)"], ["transactions", "num"], ["proposer"], ["signers", "num"], ["hash"]],
          recent.map((b) => [link(`#/block/${b.height}`, num(b.height)), when(b.time_ms), num(b.tx_count),
            validatorName(b.proposer), num(((b.proof || {}).signers || []).length),
            el("span", { class: "mono" }, short(b.hash))]), "recent-blocks"),
  );
}

async function blockPage(height) {
  await genesis();
  const b = await api(`/blocks/${height}`);
  const signers = (b.proof || {}).signers || [];
  show(
    el("h1", {}, `Block ${num(b.height)}`),
    fields([["hash", b.hash, "block-hash"], ["previous", b.height > 0 ? link(`#/block/${b.height - 1}`, b.prev_hash) : b.prev_hash],
            ["time (UTC)", when(b.time_ms)], ["proposer", `${validatorName(b.proposer)} (${b.proposer})`],
            ["transactions", num(b.tx_count), "block-tx-count"], ["transactions root", b.tx_root], ["state root", b.state_root],
            ["certificate", signers.length ? `round ${b.proof.round}, signed by ${signers.length}: ${signers.map(validatorName).join(", ")}`
                                           : "none (the genesis)", "block-signers"]]),
    el("h2", {}, "Transactions"),
    (b.txs || []).length ? table([["#", "num"], ["hash"]], b.txs.map((h, i) => [num(i), link(`#/tx/${h}`, h, "mono")]), "block-txs")
                         : el("p", { class: "muted" }, "no transactions"),
  );
}

async function txPage(hash) {
  const t = await api(`/txs/${hash}`);
  const pairs = [["hash", hash], ["status", String(t.status), "tx-status"]];
  if (t.status === "committed") {
    const r = t.receipt || {};
    pairs.push(["block", link(`#/block/${t.height}`, num(t.height)), "tx-height"], ["index in block", num(t.index)],
               ["outcome", r.ok ? el("span", { class: "ok" }, "ok") : el("span", { class: "bad" }, `failed: ${r.reason}`), "tx-outcome"],
               ["gas used", num(r.gas_used)], ["output", r.output || "—"]);
  } else if (t.reason) {
    pairs.push(["reason", String(t.reason)]);
  }
  const events = ((t.receipt || {}).events) || [];
  show(el("h1", {}, "Transaction"), fields(pairs),
       el("h2", {}, "Events"),
       events.length ? table([["contract"], ["topic"], ["fields"]],
                             events.map((e) => [link(`#/account/${e.contract}`, short(e.contract), "mono"), String(e.topic),
                                                el("span", { class: "mono" }, JSON.stringify(e.fields))]), "tx-events")
                     : el("p", { class: "muted" }, "none"));
}

async function accountPage(address) {
  const a = await api(`/accounts/${address}`);
  show(el("h1", {}, "Account"),
       fields([["address", a.address, "account-address"], ["balance", num(a.balance), "account-balance"],
               ["nonce (transactions sent)", num(a.nonce), "account-nonce"]]));
}

function chainInterval(g, timeMs) {
  const params = g.params || {};
  const length = Number(params.interval_ms) || DEFAULT_INTERVAL_MS;
  return { interval: Math.max(0, Math.floor((timeMs - Number(g.genesis_time_ms)) / length)), length };
}

async function metersPage(requested) {
  const g = await genesis();
  const head = await api("/blocks/latest");
  const { interval: current, length } = chainInterval(g, head.time_ms);
  const interval = requested === undefined ? Math.max(0, current - 1) : requested;
  const [certified, revoked, readings] = await Promise.all([api("/meters"), api("/meters/revoked"), api(`/readings/${interval}`)]);
  const start = Number(g.genesis_time_ms) + interval * length;
  show(
    el("h1", {}, "Meters"),
    el("h2", {}, `Certified (${num(certified.meters.length)}${certified.more ? "+" : ""})`),
    certified.meters.length
      ? table([["serial"], ["type"], ["public key"], ["owner"], ["reports from interval", "num"]],
              certified.meters.map((m) => [String(m.serial), String(m.meter_type), el("span", { class: "mono" }, short(m.public_key)),
                                           link(`#/account/${m.owner}`, short(m.owner), "mono"), num(m.since_interval)]), "meters-certified")
      : el("p", { class: "muted" }, "none"),
    el("h2", {}, `Revoked (${num(revoked.revoked.length)}${revoked.more ? "+" : ""})`),
    revoked.revoked.length
      ? table([["public key"], ["revoked at height", "num"]],
              revoked.revoked.map((m) => [el("span", { class: "mono" }, m.public_key), link(`#/block/${m.revoked_at_height}`, num(m.revoked_at_height))]),
              "meters-revoked")
      : el("p", { class: "muted", id: "meters-revoked-none" }, "none: every meter ever certified still counts"),
    el("h2", {}, `Readings of interval ${num(interval)} (${when(start)} – ${when(start + length).slice(11)} UTC)`),
    el("div", { class: "pager" }, interval > 0 ? link(`#/meters/${interval - 1}`, "← earlier") : "",
       interval < current ? link(`#/meters/${interval + 1}`, "later →") : ""),
    readings.readings.length
      ? table([["meter"], ["owner"], ["produced Wh", "num"], ["consumed Wh", "num"]],
              readings.readings.map((r) => [el("span", { class: "mono" }, short(r.meter)), link(`#/account/${r.owner}`, short(r.owner), "mono"),
                                            num(r.produced_wh), num(r.consumed_wh)]), "readings")
      : el("p", { class: "muted", id: "readings-none" }, "no certified readings of this interval (yet)"),
  );
}

// --- routing ------------------------------------------------------------------------------

const HEX64 = /^(0x)?[0-9a-f]{64}$/i;
const HEX40 = /^(0x)?[0-9a-f]{40}$/i;
const HEIGHT = /^[0-9]{1,15}$/;

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [page, arg] = parts;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === (page || "overview"));
  if (!page) return { name: "overview", run: overview };
  if (page === "block" && HEIGHT.test(arg || "")) return { name: "block", run: () => blockPage(Number(arg)) };
  if (page === "tx" && HEX64.test(arg || "")) return { name: "tx", run: () => txPage(arg.replace(/^0x/i, "").toLowerCase()) };
  if (page === "account" && HEX40.test(arg || "")) return { name: "account", run: () => accountPage(arg.replace(/^0x/i, "").toLowerCase()) };
  if (page === "meters" && (arg === undefined || HEIGHT.test(arg))) return { name: "meters", run: () => metersPage(arg === undefined ? undefined : Number(arg)) };
  return { name: "error", run: async () => { throw new ApiError(`no such page: #/${parts.join("/")}`); } };
}

async function render() {
  const { name, run } = route();
  state.page = name;
  state.busy = true;
  try {
    await run();
    state.lastRefresh = Date.now();
    state.dirty = false;
  } catch (exc) {
    showError(exc instanceof ApiError ? exc.message : `this page could not be drawn: ${exc}`);
  } finally {
    state.busy = false;
  }
}

function search(event) {
  event.preventDefault();
  const q = document.getElementById("search-input").value.trim();
  if (HEIGHT.test(q)) location.hash = `#/block/${q}`;
  else if (HEX64.test(q)) location.hash = `#/tx/${q.replace(/^0x/i, "").toLowerCase()}`;
  else if (HEX40.test(q)) location.hash = `#/account/${q.replace(/^0x/i, "").toLowerCase()}`;
  else showError(`"${q}" is not a block height, a transaction hash (64 hex digits) or an address (40 hex digits)`);
}

function tick() {
  if (state.page !== "overview" || state.busy || document.hidden) return;
  const stale = Date.now() - state.lastRefresh >= IDLE_REFRESH_MS;
  if (state.dirty || stale) render();
}

window.addEventListener("hashchange", render);
document.getElementById("search").addEventListener("submit", search);
connect();
render();
setInterval(tick, REFRESH_MS);
