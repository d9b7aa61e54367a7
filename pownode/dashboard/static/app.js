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
                busy: false, backoff: 500, opened: Date.now(), renders: 0 };

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

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }  // status: the HTTP status, if the node answered
}

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
    if (body && typeof body.error === "string") throw new ApiError(body.error, response.status);
    if (body && typeof body.status === "string") throw new ApiError(`${path}: ${body.status} to this node`, response.status);
    throw new ApiError(`HTTP ${response.status} for ${path}`, response.status);
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
  const [status, set, election] = await Promise.all([api("/status"), api("/validators"), api("/election"), genesis()]);
  const height = Number(status.height);
  const recent = [];
  for (let h = height; h >= Math.max(1, height - RECENT_BLOCKS + 1); h--) recent.push(await block(h));
  const proposed = new Map();
  for (const b of recent) proposed.set(b.proposer, (proposed.get(b.proposer) || 0) + 1);
  const ranked = new Map((Array.isArray(election.ranking) ? election.ranking : []).map((r) => [r.public_key, r]));
  const validators = (Array.isArray(set.validators) ? set.validators : [])
    .slice().sort((a, b) => ((ranked.get(a.public_key) || {}).rank || 1e9) - ((ranked.get(b.public_key) || {}).rank || 1e9));
  const total = validators.reduce((sum, v) => sum + (Number(v.power) || 0), 0);
  const why = (r) => {
    if (!r) return "—";
    const parts = [];
    if (election.consensus === "pos") parts.push(`W ${num(r.w)}, U ${Number(r.u).toFixed(4)}, W/U ${num(Math.round(r.w / r.u))}`);
    if (election.consensus === "poe") parts.push(`CPF ${(r.cpf_ppm / 1e6).toFixed(3)} (interval ${election.settled_interval})`);
    if (election.consensus === "pbft") parts.push(r.rank === 1 ? "the primary (stays until a view change)" : "next in turn");
    if (r.demoted) parts.push("demoted: passed over lately");
    return parts.join("; ");
  };
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
           [`rank for block ${num(election.height)}`, "num"], [`why (${election.consensus})`], ["linked to this node"]],
          validators.map((v) => [validatorName(v.public_key), el("span", { class: "mono" }, short(v.public_key)),
            num(v.power), total ? `${((100 * v.power) / total).toFixed(1)} %` : "—", num(proposed.get(v.public_key) || 0),
            num((ranked.get(v.public_key) || {}).rank), why(ranked.get(v.public_key)),
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
  const pairs = [["address", a.address, "account-address"], ["balance", num(a.balance), "account-balance"],
                 ["nonce (transactions sent)", num(a.nonce), "account-nonce"]];
  const c = a.contract;
  if (c) {
    pairs.push(["contract", `${num(c.code_bytes)} bytes of code`, "account-contract"],
               ["deployer", link(`#/account/${c.deployer}`, c.deployer, "mono")],
               ["market", c.certified_market ? link(`#/market/${a.address}`, "certified by the operator: its windows") : "not certified"]);
  }
  show(el("h1", {}, c ? "Contract" : "Account"), fields(pairs),
       c ? null : el("p", {}, link(`#/participant/${a.address}`, "its market activity (participant page)")));
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
    el("h2", {}, `Readings of interval ${interval} (${when(start)} – ${when(start + length).slice(11)} UTC)`),
    el("div", { class: "pager" }, interval > 0 ? link(`#/meters/${interval - 1}`, "← earlier") : "",
       interval < current ? link(`#/meters/${interval + 1}`, "later →") : ""),
    readings.readings.length
      ? table([["meter"], ["owner"], ["produced Wh", "num"], ["consumed Wh", "num"]],
              readings.readings.map((r) => [el("span", { class: "mono" }, short(r.meter)), link(`#/account/${r.owner}`, short(r.owner), "mono"),
                                            num(r.produced_wh), num(r.consumed_wh)]), "readings")
      : el("p", { class: "muted", id: "readings-none" }, "no certified readings of this interval (yet)"),
  );
}

function cents(milli) { return Number.isFinite(milli) ? (milli / 1000).toLocaleString("en", { maximumFractionDigits: 3 }) : "?"; }
function kwh(wh) { return Number.isFinite(wh) ? (wh / 1000).toLocaleString("en", { maximumFractionDigits: 3 }) : "?"; }

async function marketsPage() {
  const found = await api("/contracts");
  const rows = found.contracts.map((c) => [link(`#/market/${c.address}`, c.address, "mono"), link(`#/account/${c.deployer}`, short(c.deployer), "mono"),
                                           num(c.code_bytes), c.certified_market ? el("span", { class: "ok" }, "certified") : "—"]);
  show(el("h1", {}, "Markets"),
       el("p", { class: "muted" }, "Deployed contracts; a P2P market's page shows its windows (the operator certifies the markets that settle against meters)."),
       rows.length ? table([["contract"], ["deployer"], ["code bytes", "num"], ["market"]], rows, "contracts")
                   : el("p", { class: "muted" }, "no contracts deployed"));
}

const WINDOWS_BEFORE = 8;  // past windows on a market's timeline
const WINDOWS_AHEAD = 32;  // open windows shown at most: a market's lead and span are its creator's choice
const PARALLEL = 4;        // window requests in flight at once

function timeline(m, from) {
  // The windows to show: WINDOWS_BEFORE past ones, the current, and at most WINDOWS_AHEAD open ones.
  const last = Math.min(Number(m.open_windows[1]), Number(m.current_window) + WINDOWS_AHEAD);
  const out = [];
  for (let w = Math.max(from, m.current_window - WINDOWS_BEFORE); w <= last; w++) out.push(w);
  return out;
}

async function windowsOf(m, numbers, limit) {
  const out = [];
  for (let k = 0; k < numbers.length; k += PARALLEL) {
    out.push(...await Promise.all(numbers.slice(k, k + PARALLEL).map((w) => api(`/market/${m.contract}/windows/${w}?limit=${limit}`))));
  }
  return out;
}

async function marketPage(contract) {
  await genesis();
  const m = await api(`/market/${contract}`);
  const p = m.params;
  const windows = await windowsOf(m, timeline(m, Number(p.first_interval) || 0), 1);
  const cleared = windows.filter((w) => w.result);
  const volume = cleared.reduce((sum, w) => sum + w.result.volume_wh, 0);
  const paid = cleared.reduce((sum, w) => sum + w.result.paid, 0);
  const atTariff = (volume * p.tou) / 1000;
  // Peak-to-average ratio of what the community drew from the grid (P2G) over the cleared windows shown.
  const drawn = cleared.map((w) => w.result.from_grid_wh);
  const mean = drawn.length ? drawn.reduce((a, b) => a + b, 0) / drawn.length : 0;
  const par = mean > 0 ? (Math.max(...drawn) / mean).toFixed(2) : "—";
  show(
    el("h1", {}, `Market ${short(m.contract)}`),
    el("div", { class: "cards" },
      ...[["mechanism", String(p.mechanism)], ["feed-in tariff", `${cents(p.fit)} ct/kWh`], ["tariff (TOU)", `${cents(p.tou)} ct/kWh`],
          ["price cap", `${cents(p.cap)} ct/kWh`], ["members", num(m.members.length)], ["current window", String(m.current_window)],
          ["traded (shown windows)", `${kwh(volume)} kWh`, "market-traded"],
          ["average price", volume ? `${cents((paid * 1000) / volume)} ct/kWh` : "—", "market-average"],
          ["saved against the tariff", volume ? `${cents(atTariff - paid)} ct` : "—", "market-savings"],
          ["peak-to-average, from the grid", par, "market-par"]]
        .map(([label, value, id]) => el("div", { class: "card" }, el("div", { class: "label" }, label),
          el("div", id ? { class: "value", id } : { class: "value" }, value)))),
    el("h2", {}, "Windows"),
    table([["window", "num"], ["starts (UTC)"], ["status"], ["price ct/kWh", "num"], ["traded kWh", "num"], ["trades", "num"],
           ["orders", "num"]],
          windows.map((w) => [link(`#/market/${m.contract}/${w.window}`, String(w.window)), when(windowStart(w.window)), String(w.status),
                              w.result ? cents(w.result.price) : "—", w.result ? kwh(w.result.volume_wh) : "—",
                              w.result ? num(w.result.trades) : "—", num(w.totals.posted)]), "windows"),
  );
}

function windowStart(window) {
  const g = state.genesis;
  return g ? Number(g.genesis_time_ms) + window * chainInterval(g, 0).length : NaN;
}

function curves(w) {
  // Supply: offers cheapest first, cumulative energy; demand: bids highest first (a bid of price 0
  // takes any price: drawn at the top). Step lines in an SVG, the clearing price across.
  const offers = w.orders.filter((o) => o.side === "offer").sort((a, b) => a.price - b.price);
  const bids = w.orders.filter((o) => o.side === "demand");
  const top = Math.max(1, ...w.orders.map((o) => o.price), w.result ? w.result.price : 0) * 1.1;
  const bidPrice = (o) => (o.price > 0 ? o.price : top);
  bids.sort((a, b) => bidPrice(b) - bidPrice(a));
  const total = Math.max(1, offers.reduce((s, o) => s + o.energy_wh, 0), bids.reduce((s, o) => s + o.energy_wh, 0));
  const width = 1000, height = 260, pad = 36;
  const x = (e) => pad + (e * (width - 2 * pad)) / total;
  const y = (price) => height - pad - (price * (height - 2 * pad)) / top;
  const steps = (orders, priceOf) => {
    let e = 0;
    const pts = [];
    for (const o of orders) { pts.push(`${x(e)},${y(priceOf(o))}`); e += o.energy_wh; pts.push(`${x(e)},${y(priceOf(o))}`); }
    return pts.join(" ");
  };
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "curves");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "supply and demand curves with the clearing price");
  const add = (tag, attrs, label) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (label !== undefined) node.textContent = label;
    svg.append(node);
  };
  add("polyline", { class: "line supply", points: steps(offers, (o) => o.price) });
  add("polyline", { class: "line demand", points: steps(bids, bidPrice) });
  if (w.result) add("line", { class: "price", x1: pad, x2: width - pad, y1: y(w.result.price), y2: y(w.result.price) });
  add("text", { x: pad, y: 16 }, `${cents(top)} ct/kWh`);
  add("text", { x: width - pad - 160, y: height - 10 }, `${kwh(total)} kWh`);
  add("text", { x: pad + 8, y: height - 10, class: "supply" }, "supply");
  add("text", { x: pad + 80, y: height - 10, class: "demand" }, "demand");
  if (w.result) add("text", { x: width - pad - 160, y: y(w.result.price) - 6 }, `clearing ${cents(w.result.price)} ct/kWh`);
  return svg;
}

async function windowPage(contract, window) {
  await genesis();
  const w = await api(`/market/${contract}/windows/${window}?limit=1024`);
  const r = w.result;
  show(
    el("h1", {}, `Window ${w.window} of market ${short(w.contract)}`),
    fields([["status", String(w.status), "window-status"], ["starts (UTC)", when(windowStart(w.window))],
            ["demand / supply posted", `${kwh(w.totals.demand_wh)} / ${kwh(w.totals.supply_wh)} kWh`],
            ["clearing price", r ? `${cents(r.price)} ct/kWh` : "not cleared", "window-price"],
            ["traded", r ? `${kwh(r.volume_wh)} kWh in ${num(r.trades)} trades for ${cents(r.paid)} ct` : "—", "window-volume"],
            ["to / from the grid (P2G)", r ? `${kwh(r.to_grid_wh)} / ${kwh(r.from_grid_wh)} kWh` : "—"]]),
    el("h2", {}, "Supply and demand"),
    w.orders.length ? curves(w) : el("p", { class: "muted" }, "no orders"),
    el("h2", {}, "Trades"),
    w.trades.length ? table([["#", "num"], ["seller"], ["buyer"], ["kWh", "num"], ["paid ct", "num"]],
                            w.trades.map((t) => [num(t.k), link(`#/account/${t.seller}`, short(t.seller), "mono"),
                                                 link(`#/account/${t.buyer}`, short(t.buyer), "mono"), kwh(t.energy_wh), cents(t.payment)]),
                            "trades")
                    : el("p", { class: "muted" }, "none"),
    el("h2", {}, "Orders"),
    w.orders.length ? table([["side"], ["owner"], ["order id", "num"], ["kWh", "num"], ["price ct/kWh", "num"]],
                            w.orders.map((o) => [o.side, link(`#/account/${o.owner}`, short(o.owner), "mono"), num(o.order_id),
                                                 kwh(o.energy_wh), o.side === "demand" && o.price === 0 ? "any" : cents(o.price)]), "orders")
                    : el("p", { class: "muted" }, "none"),
    el("h2", {}, "Settlement against the meters"),
    w.settlements.length ? table([["member"], ["committed net kWh", "num"], ["metered net kWh", "num"], ["amount ct", "num"], ["metering"]],
                                 w.settlements.map((x) => [link(`#/account/${x.member}`, short(x.member), "mono"), kwh(x.committed_net_wh),
                                                           kwh(x.metered_net_wh), cents(x.amount), String(x.metering)]), "settlements")
                         : el("p", { class: "muted" }, "not settled yet"),
  );
}

// --- signing in the browser ---------------------------------------------------------------
// A participant's key is imported into this page only: WebCrypto holds it (Ed25519), it is never
// sent anywhere and is gone when the page is closed or reloaded. Transactions are encoded here
// exactly as ledger.encoding.pack writes them (canonical msgpack: the shortest form of each value).

const TX_DOMAIN = "pownode/tx/v1";
const ADDRESS_TAG = "pownode/address/v1";
const CONTRACT_CALL = 5;       // ledger.transactions.BODY_KINDS
const ORDER_GAS = 1500000;     // gas limit of a market order
const PKCS8_ED25519 = "302e020100300506032b657004220420"; // PKCS#8 prefix of a raw 32-byte Ed25519 seed

function bytesOf(hex, size, what) {
  const clean = String(hex).trim().replace(/^0x/i, "");
  if (!new RegExp(`^[0-9a-fA-F]{${2 * size}}$`).test(clean)) throw new ApiError(`${what} must be ${size} bytes of hex`);
  return Uint8Array.from(clean.match(/../g).map((b) => parseInt(b, 16)));
}
function hexOf(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""); }
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function msgpack(value) {
  const out = [];
  const be = (n, size) => { for (let i = size - 1; i >= 0; i--) out.push(Number((BigInt(n) >> BigInt(8 * i)) & 0xffn)); };
  const length = (n, small, one, two, four) => {
    if (small !== null && n < (small === 0xa0 ? 32 : 16)) out.push(small | n);
    else if (one !== null && n < 256) out.push(one, n);
    else if (n < 65536) { out.push(two); be(n, 2); }
    else { out.push(four); be(n, 4); }
  };
  const put = (v) => {
    if (typeof v === "number" || typeof v === "bigint") {
      if (typeof v === "number" && !Number.isSafeInteger(v)) throw new ApiError(`${v} is not a whole number`);
      const n = BigInt(v);
      if (n >= 0n) {
        if (n < 128n) out.push(Number(n));
        else if (n < 256n) { out.push(0xcc); be(n, 1); }
        else if (n < 65536n) { out.push(0xcd); be(n, 2); }
        else if (n < 4294967296n) { out.push(0xce); be(n, 4); }
        else if (n < 18446744073709551616n) { out.push(0xcf); be(n, 8); }
        else throw new ApiError(`${v} is above 2**64`);
      } else if (n >= -32n) out.push(Number(n & 0xffn));
      else if (n >= -128n) { out.push(0xd0); be(n & 0xffn, 1); }
      else if (n >= -32768n) { out.push(0xd1); be(n & 0xffffn, 2); }
      else if (n >= -2147483648n) { out.push(0xd2); be(n & 0xffffffffn, 4); }
      else if (n >= -9223372036854775808n) { out.push(0xd3); be(n & 0xffffffffffffffffn, 8); }
      else throw new ApiError(`${v} is below -2**63`);
    } else if (typeof v === "string") {
      const b = new TextEncoder().encode(v);
      length(b.length, 0xa0, 0xd9, 0xda, 0xdb);
      out.push(...b);
    } else if (v instanceof Uint8Array) {
      length(v.length, null, 0xc4, 0xc5, 0xc6);
      out.push(...v);
    } else if (Array.isArray(v)) {
      length(v.length, 0x90, null, 0xdc, 0xdd);
      v.forEach(put);
    } else {
      throw new ApiError("only integers, strings, bytes and lists are encoded");
    }
  };
  put(value);
  return new Uint8Array(out);
}

async function importSigner(text) {
  if (!window.crypto || !crypto.subtle) {
    throw new ApiError("signing needs a secure context: open the dashboard over https, or on localhost");
  }
  let seed = text.trim();
  if (seed.startsWith("{")) {  // a pownode key file's JSON
    try { seed = JSON.parse(seed).seed; } catch (exc) { throw new ApiError("the key file is not JSON"); }
  }
  const raw = bytesOf(seed || "", 32, "a key's seed");
  let key, jwk;
  try {
    key = await crypto.subtle.importKey("pkcs8", concat(bytesOf(PKCS8_ED25519, 16, "prefix"), raw), { name: "Ed25519" }, true, ["sign"]);
    jwk = await crypto.subtle.exportKey("jwk", key);
  } catch (exc) {
    throw new ApiError(`this browser cannot use the key for Ed25519 signatures (${exc})`);
  }
  const publicKey = Uint8Array.from(atob(jwk.x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(new TextEncoder().encode(ADDRESS_TAG), publicKey)));
  return { key, publicKey, address: hexOf(digest.slice(0, 20)) };
}

async function signAndSend(signer, contract, fn, args, gas = ORDER_GAS, value = 0) {
  // A contract call with the least fee its gas limit needs (ledger.executor.contract_fee).
  const g = await genesis();
  const account = await api(`/accounts/${signer.address}`);
  const fee = Number(g.min_fee) + Math.ceil((gas * Number((g.params || {}).gas_price || 1)) / 1000);
  const body = [CONTRACT_CALL, [bytesOf(contract, 20, "the contract's address"), fn, args, gas, value]];
  const payload = [signer.publicKey, account.nonce, fee, body];
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, signer.key, msgpack([TX_DOMAIN, g.chain_id, payload])));
  const encoded = msgpack([g.chain_id, ...payload, signature]);
  const response = await fetch("/txs?wait=commit&timeout_s=30", { method: "POST", headers: { "Content-Type": "application/json" },
                                                                   body: JSON.stringify({ txs: [hexOf(encoded)] }) });
  const answer = await response.json().catch(() => null);
  const result = answer && Array.isArray(answer.results) ? answer.results[0] : null;
  if (!response.ok || !result) throw new ApiError(answer && answer.error ? answer.error : `HTTP ${response.status} for POST /txs`);
  if (!result.accepted) return `refused: ${result.reason}${result.detail ? ` (${result.detail})` : ""}`;
  if (!result.durable) return `sent (${short(result.hash)}), not committed yet: see #/tx/${result.hash}`;
  const t = await api(`/txs/${result.hash}`);
  return t.receipt && t.receipt.ok ? `committed at height ${t.height}` : `reverted: ${(t.receipt || {}).reason}`;
}

// --- the participant's page -----------------------------------------------------------------

async function participantPage(address, contract) {
  const g = await genesis();
  const keyInput = el("textarea", { id: "key-input", rows: "2", placeholder: "the key's seed (64 hex digits) or the key file's JSON", autocomplete: "off", spellcheck: "false" });
  const keyError = el("p", { class: "bad", id: "key-error" });
  const keyButton = el("button", { type: "button", id: "key-import" }, "Use this key in this page");
  keyButton.addEventListener("click", async () => {
    keyError.textContent = "";
    try {
      state.signer = await importSigner(keyInput.value);
      keyInput.value = "";
      location.hash = `#/participant/${state.signer.address}${contract ? `/${contract}` : ""}`;
      if (address === state.signer.address) render();
    } catch (exc) {
      keyError.textContent = exc instanceof ApiError ? exc.message : String(exc);
    }
  });
  const signer = state.signer && state.signer.address === address ? state.signer : null;
  const parts = [el("h1", {}, "Participant"),
    el("p", { class: "muted" }, "A key used here stays in this page: it signs in the browser (WebCrypto), is never sent, and is forgotten on reload."),
    el("div", { class: "keybox" }, keyInput, keyButton, keyError)];
  if (!address) { show(...parts); return; }
  const account = await api(`/accounts/${address}`);
  parts.push(fields([["address", address, "participant-address"], ["balance", num(account.balance)], ["nonce", num(account.nonce)],
                     ["signing here", signer ? "yes: this page holds its key" : "no (read only)", "signer-address"]]));
  const certified = await certifiedContracts();
  const incentives = await cesContracts(certified);
  const ces = await Promise.all(incentives.map((c) => cesSection(address, c, signer)));
  if (!contract) {
    const markets = certified.filter((c) => !incentives.some((x) => x.contract === c.address));
    parts.push(el("h2", {}, "Markets"), markets.length
      ? el("ul", {}, ...markets.map((c) => el("li", {}, link(`#/participant/${address}/${c.address}`, c.address, "mono"))))
      : el("p", { class: "muted" }, "no certified market: add a market's address to the page's address (#/participant/ADDRESS/MARKET)"));
    show(...parts, ...ces);
    return;
  }
  const m = await api(`/market/${contract}`);
  const windows = await windowsOf(m, timeline(m, 0), 1024);
  const rows = [];
  for (const w of windows) {
    for (const o of w.orders.filter((o) => o.owner === address)) {
      rows.push([String(w.window), String(w.status), `${o.side} #${o.order_id}`, kwh(o.energy_wh), o.side === "demand" && o.price === 0 ? "any" : cents(o.price), "", ""]);
    }
    for (const t of w.trades.filter((t) => t.seller === address || t.buyer === address)) {
      rows.push([String(w.window), String(w.status), t.seller === address ? "sold" : "bought", kwh(t.energy_wh), "",
                 t.seller === address ? cents(t.payment) : `-${cents(t.payment)}`, ""]);
    }
    for (const x of w.settlements.filter((x) => x.member === address)) {
      rows.push([String(w.window), String(w.status), `settled (${x.metering})`, kwh(x.metered_net_wh - x.committed_net_wh), "", "", cents(x.amount)]);
    }
  }
  parts.push(el("h2", {}, `In market ${short(m.contract)}`),
             rows.length ? table([["window", "num"], ["status"], ["what"], ["kWh", "num"], ["price ct/kWh", "num"], ["paid (-) / received ct", "num"],
                                  ["bill ct", "num"]], rows, "participant-activity")
                         : el("p", { class: "muted", id: "participant-activity-none" }, "no orders, trades or bills in the windows shown"));
  if (signer) parts.push(orderForm(signer, m));
  show(...parts, ...ces);
}

function orderForm(signer, m) {
  const input = (id, attrs) => el("input", { id, ...attrs });
  // No min or max on the window: the open windows move on while the page is open; the contract decides.
  const windowInput = input("order-window", { type: "number", value: String(m.open_windows[0]) });
  const side = el("select", { id: "order-side" }, el("option", { value: "0" }, "buy (demand)"), el("option", { value: "1" }, "sell (offer)"));
  const energy = input("order-energy", { type: "number", min: "1", value: "1000" });
  const price = input("order-price", { type: "text", inputmode: "decimal", value: String(((m.params.fit + m.params.cap) / 2000).toFixed(3)) });
  const takesMarketPrice = () => side.value === "0" && m.params.mechanism !== "double";
  const priceNote = el("span", { class: "muted", id: "order-price-note" });
  const showPrice = () => {
    price.disabled = takesMarketPrice();
    priceNote.textContent = takesMarketPrice() ? "a demand here takes the market's clearing price" : "";
  };
  side.addEventListener("change", showPrice);
  showPrice();
  const orderId = input("order-id", { type: "number", min: "0", value: String(Date.now() % 1000000000) });
  const result = el("p", { id: "order-result", role: "status" });
  const submit = el("button", { type: "submit", id: "order-submit" }, "Sign and send");
  const form = el("form", { id: "order-form", class: "order" },
    el("label", {}, "window ", windowInput), el("label", {}, "side ", side), el("label", {}, "energy Wh ", energy),
    el("label", {}, "price ct/kWh ", price), priceNote, el("label", {}, "order id ", orderId), submit, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    result.textContent = "signing and sending";
    try {
      const whole = (node, what) => {
        const n = Number(node.value);
        if (!Number.isSafeInteger(n) || n < 0) throw new ApiError(`${what} must be a whole number`);
        return n;
      };
      // A price is a plain decimal number of ct/kWh ("14.5" or "14,5"); anything else is refused, never read as 0.
      const typed = price.value.trim().replace(",", ".");
      if (!takesMarketPrice() && !/^[0-9]{1,9}(\.[0-9]{1,3})?$/.test(typed)) throw new ApiError("the price must be a number of ct/kWh, e.g. 14.5");
      const milli = takesMarketPrice() ? 0 : Math.round(Number(typed) * 1000);
      const outcome = await signAndSend(signer, m.contract, "post",
        [whole(windowInput, "the window"), whole(side, "the side"), whole(energy, "the energy"), milli, whole(orderId, "the order id")]);
      if (outcome.startsWith("committed")) {
        await render();  // the activity above now holds the order; the new form says what happened
        const shown = document.getElementById("order-result");
        if (shown) shown.textContent = outcome;
        return;
      }
      result.textContent = outcome;
    } catch (exc) {
      result.textContent = exc instanceof ApiError ? exc.message : `not sent: ${exc}`;
    } finally {
      submit.disabled = false;
    }
  });
  return el("div", {}, el("h2", {}, "Post an order, signed in this page"), form);
}

// --- CES offers (004's crowdsourcing incentives, market/contracts/ces_incentives.py) ---------

const CONTRACT_PAGES = 4;  // pages of /contracts (64 contracts each) searched for certified contracts
const OFFERS_PAGE = 16;    // offers drawn at first, and per "more"

async function certifiedContracts() {
  // Only contracts the network operator certified: any member may deploy a contract whose storage
  // reads like a CES contract's, and its made-up "offers" would put buttons to sign on this page.
  const out = [];
  let after = "";
  for (let k = 0; k < CONTRACT_PAGES; k++) {
    const page = await api(`/contracts${after ? `?after=${after}` : ""}`);
    out.push(...page.contracts.filter((c) => c.certified_market));
    if (!page.more || !page.contracts.length) break;
    after = page.contracts[page.contracts.length - 1].address;
  }
  return out;
}

async function orNone(path) {
  // The API's answer, or null where it says 404 (not a CES contract; no set-points posted).
  try { return await api(path); } catch (exc) { if (exc instanceof ApiError && exc.status === 404) return null; throw exc; }
}

async function cesContracts(certified) {
  // The CES contracts among the certified ones (GET /ces/{c} answers for those, 404 for a P2P market).
  const found = [];
  for (let k = 0; k < certified.length; k += PARALLEL) {
    found.push(...await Promise.all(certified.slice(k, k + PARALLEL).map((c) => orNone(`/ces/${c.address}`))));
  }
  return found.filter(Boolean);
}

async function cesSection(address, ces, signer) {
  const c = ces.contract;
  const [first, eq] = await Promise.all([api(`/ces/${c}/offers/${address}?limit=${OFFERS_PAGE}`),
                                         orNone(`/ces/${c}/equilibrium/${ces.today}/${address}`)]);
  const result = el("p", { id: `ces-result-${c}`, role: "status" });
  const wrap = table([["offer", "num"], ["state"], ["interval", "num"], ["starts (UTC)"], ["kWh", "num"],
                      ["DLMP + incentive ct/kWh", "num"], ["if delivered ct", "num"], ["delivered kWh / paid ct", "num"], ["answer"]],
                     [], `ces-offers-${c}`);
  const body = wrap.querySelector("tbody");
  const more = el("button", { type: "button", id: `ces-more-${c}` }, "more");
  let next = null;
  const add = (page) => {
    for (const o of page.offers) body.append(offerRow(o, ces, signer, result));
    next = page.next;
    more.hidden = next === null;
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try { add(await api(`/ces/${c}/offers/${address}?limit=${OFFERS_PAGE}&before=${next}`)); } catch (exc) {
      result.className = "bad";
      result.textContent = exc instanceof ApiError ? exc.message : String(exc);
    } finally { more.disabled = false; }
  });
  add(first);
  const today = eq ? fields([[`set-points for today (day ${num(eq.day)}), net export Wh per interval`, eq.setpoints_wh.map(num).join(", "), `ces-setpoints-${c}`],
                             ["bus", eq.bus === null ? "—" : num(eq.bus)], ["the solver's inputs (sha256)", eq.inputs_hash]])
                   : el("p", { class: "muted", id: `ces-setpoints-${c}` }, `no set-points posted for today (day ${num(ces.today)})`);
  return el("section", { id: `ces-${c}` },
    el("h2", {}, "CES offers from ", link(`#/account/${c}`, short(c), "mono"), ces.certified ? "" : " (certification withdrawn: nothing can be accepted)"),
    today, result,  // an answer's outcome above the offers: the page is redrawn from the first page after one
    first.offers.length ? wrap : el("p", { class: "muted", id: `ces-offers-none-${c}` }, "no offers to this address"),
    el("div", { class: "pager" }, more));
}

function offerRow(o, ces, signer, result) {
  const price = `${cents(o.dlmp)} + ${cents(o.incentive)}${o.raises ? ` (raised ${o.raises}× from ${cents(o.first_incentive)})` : ""}`;
  let answer = "—";
  if (o.answerable && signer) {
    const accept = el("button", { type: "button", class: "accept" }, "Accept");
    const refuse = el("button", { type: "button", class: "refuse secondary" }, "Refuse");
    for (const [button, fn] of [[accept, "accept"], [refuse, "refuse"]]) {
      button.addEventListener("click", () => answerOffer(signer, ces, o, o[fn], fn, [accept, refuse], result));
    }
    answer = el("span", { class: "answer" }, accept, refuse);
  } else if (o.answerable) {
    answer = el("span", { class: "muted" }, "import the key above to answer");
  } else if (o.state === "open") {
    answer = el("span", { class: "muted" }, ces.certified ? "too late: its interval has started" : "not while uncertified");
  }
  const row = el("tr", { "data-offer": String(o.id) }, ...[
    [num(o.id), "num"], [String(o.state)], [num(o.interval), "num"], [when(o.interval_start_ms)], [kwh(o.energy_wh), "num"],
    [price, "num"], [cents(o.payment_if_delivered), "num"],
    [o.state === "reconciled" ? `${kwh(o.delivered_wh)} / ${cents(o.paid)}` : "—", "num"], [answer]]
    .map(([cell, cls]) => el("td", cls ? { class: cls } : {}, cell)));
  return row;
}

async function answerOffer(signer, ces, o, call, fn, buttons, result) {
  // Signs the call the API gives for the offer, once it is the one the button names.
  for (const b of buttons) b.disabled = true;
  result.className = "";
  result.textContent = `offer ${o.id}: signing and sending`;
  let said, ok = false;
  try {
    // accept and refuse take no value and use ~5,000 and ~3,300 gas: the fee is bounded as a market order's, whatever the node says
    if (!call || call.contract !== ces.contract || call.function !== fn || JSON.stringify(call.args) !== JSON.stringify([o.id])
        || call.value !== 0 || !Number.isSafeInteger(call.gas) || call.gas < 1 || call.gas > ORDER_GAS) {
      throw new ApiError(`the node's call for offer ${o.id} is not ${fn}(${o.id}) on ${ces.contract} without value: not signed`);
    }
    const outcome = await signAndSend(signer, call.contract, call.function, call.args, call.gas, 0);
    ok = outcome.startsWith("committed");
    said = `offer ${o.id}: ${fn} ${outcome}`;
    if (ok || outcome.startsWith("reverted")) await render();  // the offers as the chain has them now
  } catch (exc) {
    said = `offer ${o.id}: ${exc instanceof ApiError ? exc.message : `not sent: ${exc}`}`;
  } finally {
    for (const b of buttons) b.disabled = false;
  }
  const shown = document.getElementById(`ces-result-${ces.contract}`) || result;  // redrawn, or this one
  shown.className = ok ? "ok" : "bad";
  shown.setAttribute("role", ok ? "status" : "alert");
  shown.textContent = said;
}

// --- routing ------------------------------------------------------------------------------

const HEX64 = /^(0x)?[0-9a-f]{64}$/i;
const HEX40 = /^(0x)?[0-9a-f]{40}$/i;
const HEIGHT = /^[0-9]{1,15}$/;

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [page, arg] = parts;
  const section = page === "market" ? "markets" : page;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === (section || "overview"));
  if (!page) return { name: "overview", run: overview };
  if (page === "block" && HEIGHT.test(arg || "")) return { name: "block", run: () => blockPage(Number(arg)) };
  if (page === "tx" && HEX64.test(arg || "")) return { name: "tx", run: () => txPage(arg.replace(/^0x/i, "").toLowerCase()) };
  if (page === "account" && HEX40.test(arg || "")) return { name: "account", run: () => accountPage(arg.replace(/^0x/i, "").toLowerCase()) };
  if (page === "meters" && (arg === undefined || HEIGHT.test(arg))) return { name: "meters", run: () => metersPage(arg === undefined ? undefined : Number(arg)) };
  if (page === "markets" && arg === undefined) return { name: "markets", run: marketsPage };
  if (page === "participant" && (arg === undefined || HEX40.test(arg)) && (parts[2] === undefined || HEX40.test(parts[2]))) {
    return { name: "participant", run: () => participantPage(arg && arg.replace(/^0x/i, "").toLowerCase(), parts[2] && parts[2].replace(/^0x/i, "").toLowerCase()) };
  }
  const window = parts[2];
  if (page === "market" && HEX40.test(arg || "") && window === undefined) return { name: "market", run: () => marketPage(arg.replace(/^0x/i, "")) };
  if (page === "market" && HEX40.test(arg || "") && HEIGHT.test(window || "")) return { name: "window", run: () => windowPage(arg.replace(/^0x/i, ""), Number(window)) };
  return { name: "error", run: async () => { throw new ApiError(`no such page: #/${parts.join("/")}`); } };
}

async function render() {
  const token = ++state.renders;
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
  // A page asked for while this one was drawing (a search during a slow overview) may have been
  // drawn first and then drawn over by this one: draw what is asked for now again.
  if (token !== state.renders) await render();
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
