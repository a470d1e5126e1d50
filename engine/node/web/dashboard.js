// Ballast dashboard: draws each snapshot the engine pushes on /events (server-sent events).
// Every number comes from the snapshot as /status gives it; nothing is fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const pct = (x) => (x === null || x === undefined) ? "–" : (x * 100).toFixed(2) + "%";
const money = (x) => Number(x).toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
const clock = (ns) => ns ? new Date(ns / 1e6).toISOString().slice(11, 23) : "–";

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fill(tbodyParent, rows, draw) {
  const body = tbodyParent.tagName === "TABLE" ? tbodyParent.tBodies[0] : tbodyParent;
  body.replaceChildren();
  for (const r of rows) body.appendChild(draw(r));
}

// a scale of the target ± twice its band: the band shaded, the target a line, the weight a dot
function bandBar(u) {
  const bar = document.createElement("div");
  bar.className = "band";
  if (u.target === null) return bar;
  const half = Math.max(2 * (u.band || 0.05), Math.abs(u.weight - u.target) * 1.1, 1e-6);
  const lo = u.target - half;
  const at = (w) => Math.min(100, Math.max(0, (w - lo) / (2 * half) * 100));
  if (u.band !== null) {
    const zone = document.createElement("div");
    zone.className = "zone";
    zone.style.left = at(u.target - u.band) + "%";
    zone.style.width = (at(u.target + u.band) - at(u.target - u.band)) + "%";
    bar.appendChild(zone);
  }
  const tgt = document.createElement("div");
  tgt.className = "target";
  tgt.style.left = at(u.target) + "%";
  bar.appendChild(tgt);
  const dot = document.createElement("div");
  const outside = u.band !== null && Math.abs(u.weight - u.target) > u.band;
  dot.className = "dot" + (outside ? " outside" : "");
  dot.style.left = at(u.weight) + "%";
  bar.appendChild(dot);
  return bar;
}

function render(s) {
  document.body.dataset.seq = s.seq;
  $("seq").textContent = s.seq;
  $("time").textContent = s.time || "–";
  $("events").textContent = s.events;
  $("mode").textContent = s.mode;
  const risk = $("risk-state");
  risk.textContent = s.risk_state;
  risk.className = "tag risk " + s.risk_state.toLowerCase();
  $("nav").textContent = money(s.nav);
  // an exhausted account (no margin balance left) is drawn full and over its cap
  $("margin-util").textContent = s.margin_exhausted ? "∞ (no margin left)" : pct(s.margin_utilisation);
  $("margin-cap").textContent = pct(s.margin_cap);
  $("margin-bar").style.width = Math.min(100, s.margin_utilisation * 100) + "%";
  $("margin-bar").className = s.margin_utilisation > s.margin_cap ? "over" : "";
  $("margin-cap-mark").style.left = Math.min(100, s.margin_cap * 100) + "%";
  $("fills").textContent = s.fills;
  $("run-id").textContent = s.run_id;
  $("finished").textContent = s.finished ? "finished" : "";

  fill($("underlyings"), s.underlyings, (u) => {
    const tr = document.createElement("tr");
    tr.dataset.asset = u.asset;
    cell(tr, u.asset, "name");
    cell(tr, s.nav > 0 ? pct(u.weight) : "n/a (NAV ≤ 0)", "weight");
    cell(tr, pct(u.target), "target");
    cell(tr, u.band === null ? "–" : "± " + pct(u.band), "band-width");
    cell(tr, "").appendChild(bandBar(u));
    cell(tr, money(u.exposure), "exposure");
    return tr;
  });
  fill($("legs"), s.underlyings.flatMap((u) => u.legs.map((l) => [u.asset, l])), ([a, l]) => {
    const tr = document.createElement("tr");
    tr.dataset.symbol = l.symbol;
    cell(tr, a);
    cell(tr, l.symbol, "mono");
    cell(tr, l.leg, "leg");
    cell(tr, l.account, "account");
    cell(tr, String(l.amount), "amount");
    cell(tr, money(l.exposure), "exposure");
    cell(tr, pct(l.weight), "weight");
    return tr;
  });
  fill($("rebalances"), s.rebalances, (r) => {
    const tr = document.createElement("tr");
    tr.dataset.parent = r.parent_id;
    cell(tr, r.parent_id, "mono");
    cell(tr, r.symbol, "mono");
    cell(tr, r.side);
    cell(tr, r.filled_qty + " / " + r.target_qty, "progress");
    const meter = document.createElement("div");
    meter.className = "meter";
    const done = document.createElement("div");
    done.style.width = Math.min(100, r.fill_ratio * 100) + "%";
    meter.appendChild(done);
    cell(tr, "").appendChild(meter);
    cell(tr, r.shortfall_bps === null ? "–" : r.shortfall_bps.toFixed(2) + " bps", "shortfall");
    cell(tr, r.state);
    return tr;
  });
  $("no-rebalances").hidden = s.rebalances.length > 0;

  $("conditions").textContent = Object.entries(s.risk_conditions)
    .map(([k, v]) => k + ": " + v).join("; ");
  fill($("risk-history"), s.risk_history.slice().reverse(), (c) => {
    const li = document.createElement("li");
    li.textContent = clock(c.ts) + "  " + c.old + " → " + c.new + "  " + c.reason;
    return li;
  });
  fill($("streams"), s.streams, (f) => {
    const tr = document.createElement("tr");
    cell(tr, f.symbol, "mono");
    cell(tr, f.stream);
    cell(tr, f.age_s.toFixed(3) + " s", f.age_s > s.max_price_age_s ? "age stale" : "age");
    return tr;
  });
  fill($("fills-table"), s.recent_fills.slice().reverse(), (f) => {
    const tr = document.createElement("tr");
    cell(tr, clock(f.ts));
    cell(tr, f.symbol, "mono");
    cell(tr, f.side, f.side);
    cell(tr, f.qty);
    cell(tr, f.price);
    cell(tr, f.fee + " " + f.fee_currency);
    return tr;
  });
  fill($("transfers"), s.recent_transfers.slice().reverse(), (t) => {
    const tr = document.createElement("tr");
    cell(tr, clock(t.ts));
    cell(tr, t.asset);
    cell(tr, t.amount);
    cell(tr, t.from + " → " + t.to);
    cell(tr, t.status + (t.reason ? " (" + t.reason + ")" : ""));
    return tr;
  });
  fill($("alerts"), s.recent_alerts.slice().reverse(), (a) => {
    const li = document.createElement("li");
    li.textContent = clock(a.ts) + "  " + a.kind + ": " + a.text;
    return li;
  });
  $("read-only").hidden = s.steering;
  $("steer-form").hidden = !s.steering;
}

async function steer(action) {
  const out = $("steer-result");
  const reason = $("reason").value.trim();
  if (!reason) {
    out.textContent = action + ": say why (the reason is journaled)";
    return;
  }
  try {
    const r = await fetch("/" + action, {
      method: "POST",
      headers: {"Content-Type": "application/json",
                "Authorization": "Bearer " + $("token").value},
      body: JSON.stringify({reason: reason}),
    });
    const body = await r.json();
    out.textContent = r.ok ? action + ": risk state " + body.risk_state
                           : action + " refused (" + r.status + "): " + body.error;
  } catch (e) {
    out.textContent = action + " failed: " + e;
  }
}

$("steer-form").addEventListener("submit", (e) => e.preventDefault());
$("kill").addEventListener("click", () => steer("kill"));
$("resume").addEventListener("click", () => steer("resume"));

const stream = new EventSource("/events");
stream.onopen = () => { $("link").textContent = "live"; $("link").className = "tag ok"; };
stream.onerror = () => { $("link").textContent = "disconnected"; $("link").className = "tag bad"; };
stream.onmessage = (e) => render(JSON.parse(e.data));
