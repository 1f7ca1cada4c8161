/** @jsxImportSource hono/jsx */
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import type { AppEnv } from "../http/app-env";
import type { Age } from "../services/dashboard-data";
import { collectStatus, type DashboardSection, type DashboardStatus } from "./dashboard";

/**
 * The dashboard, server-rendered with Hono's JSX: `Page` once, then `Live` (every section) again as an
 * HTML fragment each second (each refresh reads at most one object per capability, the rest is shown as
 * last read with its age: src/services/dashboard-data.ts); the page's small script swaps it in, keeps the election timeline and sends
 * the fault controls (only with an admin token typed into the page). No build step, no CDN, no fonts.
 */

const fmtBytes = (b: number) => (b >= 1048576 ? `${(b / 1048576).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
const ago = (now: number, t: number | null | undefined) => (typeof t === "number" && t > 0 ? `${Math.max(0, Math.round((now - t) / 1000))} s ago` : "—");

function Failed({ s }: { s: DashboardSection }) {
  if (s.ok) return null;
  return <p class="error">Unavailable ({s.status}): {JSON.stringify(s.error).slice(0, 200)}</p>;
}

function Card({ id, title, children }: { id: string; title: string; children: Child }) {
  return (
    <section id={id} aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{title}</h2>
      {children}
    </section>
  );
}

/** How old a row is: when its data was read (each refresh reads one object per capability), and a failed last read. */
function Age({ a, now }: { a: Age; now: number }) {
  if (a.readAt === null) return <td class="age muted">not read yet</td>;
  const when = a.valueAt === null ? "never answered" : ago(now, a.valueAt);
  return <td class={a.error === null ? "age" : "age error"} data-read-at={String(a.valueAt ?? "")}>{when}{a.error === null ? "" : ` (last read failed ${ago(now, a.readAt)}: ${a.error.slice(0, 80)})`}</td>;
}

function Raft({ s, now }: { s: DashboardStatus["raft"]; now: number }) {
  const d = s.ok ? s.data : null;
  const leader = d?.leader ?? "";
  return (
    <Card id="raft" title="Raft">
      <Failed s={s} />
      <p data-leader={leader} data-term={String(d?.term ?? 0)} id="raft-leader">
        Leader: <strong>{leader === "" ? "none (election in progress)" : leader}</strong>
        {leader === "" ? null : <> · term {d?.term ?? 0}</>}
      </p>
      <table>
        <thead><tr><th scope="col">Node</th><th scope="col">Role</th><th scope="col">Term</th><th scope="col">Commit</th><th scope="col">Applied</th><th scope="col">Log</th><th scope="col">Snapshot</th><th scope="col">Match</th><th scope="col">Last contact</th><th scope="col">Read</th><th scope="col">Admin</th></tr></thead>
        <tbody>
          {(d?.members ?? []).map((m) => {
            const st = m.status;
            const isLeader = m.node === leader;
            const down = m.error !== null;
            return (
              <tr class={isLeader ? "leader" : down ? "down" : ""} data-node={m.node} data-role={st?.role ?? ""}>
                <th scope="row">{m.node}{isLeader ? " ★" : ""}</th>
                <td>{down ? "unreachable" : (st?.role ?? "—")}</td>
                <td>{st?.term ?? "—"}</td><td>{st?.commit ?? "—"}</td><td>{st?.applied ?? "—"}</td>
                <td>{st ? st.lastIndex - st.snapshotIndex : "—"}</td><td>{st?.snapshotIndex ?? "—"}</td>
                <td>{isLeader ? "(leader)" : (m.leaderView?.match ?? "—")}</td>
                <td>{isLeader ? "(leader)" : ago(d?.leaderViewAt ?? now, m.leaderView?.lastContact)}</td>
                <Age a={m} now={now} />
                <td><button type="button" class="admin" data-action="crash-node" data-node={m.node} aria-label={`Crash ${m.node}`}>Crash</button></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p class="muted">Match and last contact are the leader's view of each follower{d?.leaderViewAt ? `, read ${ago(now, d.leaderViewAt)}` : ""}. Elections seen (term changes): <span id="elections-count">0</span></p>
    </Card>
  );
}

/** The ring as arcs, one per shard, sized by its share of the hash space. */
function Ring({ shards }: { shards: { id: string; ownership: number }[] }) {
  const r = 70;
  const c = 2 * Math.PI * r;
  let offset = 0;
  const hue = (i: number) => (i * 360) / Math.max(1, shards.length);
  return (
    <svg viewBox="0 0 200 200" width="200" height="200" role="img" aria-label="The hash ring: shards as arcs sized by ownership">
      {shards.map((sh, i) => {
        const len = sh.ownership * c;
        const el = <circle cx="100" cy="100" r={String(r)} fill="none" stroke={`hsl(${hue(i)} 60% 50%)`} stroke-width="24" stroke-dasharray={`${len} ${c - len}`} stroke-dashoffset={String(-offset)} transform="rotate(-90 100 100)"><title>{`${sh.id}: ${(sh.ownership * 100).toFixed(1)}%`}</title></circle>;
        offset += len;
        return el;
      })}
    </svg>
  );
}

function Cache({ stats, ring, now }: { stats: DashboardStatus["cacheStats"]; ring: DashboardStatus["ring"]; now: number }) {
  const shards = stats.ok ? stats.data.shards : [];
  const ringShards = ring.ok ? ring.data.shards : [];
  const own = new Map(ringShards.map((s) => [s.id, s.ownership]));
  return (
    <Card id="cache" title="Cache">
      <Failed s={stats} />
      <Failed s={ring} />
      <div class="row">
        <Ring shards={ringShards} />
        <table>
          <thead><tr><th scope="col">Shard</th><th scope="col">Share</th><th scope="col">Keys</th><th scope="col">Bytes</th><th scope="col">Hit rate</th><th scope="col">Evictions</th><th scope="col">Read</th><th scope="col">Admin</th></tr></thead>
          <tbody>
            {shards.map((s) => {
              const st = s.stats;
              const lookups = st === null ? 0 : st.hits + st.misses;
              const fault = st?.fault.mode ?? "";
              return (
                <tr class={s.error !== null || fault === "down" ? "down" : ""} data-shard={s.shard} data-keys={st === null ? "" : String(st.keys)}>
                  <th scope="row">{s.shard}{fault !== "" && fault !== "healthy" ? ` (${fault})` : ""}</th>
                  <td>{((own.get(s.shard) ?? 0) * 100).toFixed(1)}%</td>
                  <td>{st?.keys ?? "—"}</td><td>{st === null ? "—" : fmtBytes(st.bytes)}</td>
                  <td>{lookups === 0 || st === null ? "—" : `${((100 * st.hits) / lookups).toFixed(0)}%`}</td><td>{st?.evictions ?? "—"}</td>
                  <Age a={s} now={now} />
                  <td><button type="button" class="admin" data-action="crash-shard" data-shard={s.shard} aria-label={`Crash ${s.shard}`}>Crash</button></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p class="muted">One shard is read per refresh, in turn; each row is as last read.</p>
    </Card>
  );
}

function Transactions({ s, now }: { s: DashboardStatus["transactions"]; now: number }) {
  const d = s.ok ? s.data : null;
  const txns = d?.transactions ?? [];
  const failing = (d?.coordinators ?? []).filter((c) => c.error !== null);
  const unread = (d?.coordinators ?? []).filter((c) => c.valueAt === null).length;
  return (
    <Card id="txns" title="Transactions">
      <Failed s={s} />
      {d && "note" in d ? <p class="muted">{d.note}</p> : null}
      {failing.length > 0 ? <p class="error">Not answering at their last read: {failing.map((c) => c.name).join(", ")}</p> : null}
      {txns.length === 0 ? <p class="muted">No recent transactions{unread > 0 ? ` (${unread} coordinators not read yet)` : ""}.</p> : (
        <table>
          <thead><tr><th scope="col">Id</th><th scope="col">State</th><th scope="col">Participants</th><th scope="col">Started</th><th scope="col">Read</th></tr></thead>
          <tbody>
            {txns.map((t) => (
              <tr class={t.inDoubt ? "doubt" : ""} data-txn={t.id}>
                <th scope="row"><code>{t.id.slice(0, 24)}</code></th>
                <td>{t.phase}{t.inDoubt ? " — in doubt" : ""}</td>
                <td>{t.participants.map((p) => p.shard).join(", ")}</td>
                <td>{ago(now, t.startedAt)}</td>
                <td class="age">{ago(now, t.valueAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="muted">One coordinator of {d?.coordinators.length ?? 0} is read per refresh, in turn{unread > 0 ? `; ${unread} not read yet` : ""}.</p>
    </Card>
  );
}

function Pools({ s, now }: { s: DashboardStatus["pools"]; now: number }) {
  const d = s.ok ? s.data : null;
  const pools = d?.pools ?? [];
  return (
    <Card id="lb" title="Load balancer">
      <Failed s={s} />
      {d?.error ? <p class="error">Pool list: last read failed ({d.error})</p> : null}
      {d?.readAt === null ? <p class="muted">Pool list not read yet.</p> : pools.length === 0 ? <p class="muted">No pools (PUT /admin/lb/pools/&lt;name&gt;).</p> : null}
      {pools.map((p) => (
        <div class="pool" data-pool={p.pool}>
          <h3>{p.pool} <span class="muted">({p.status?.algorithm ?? "not read yet"}) · read {p.readAt === null ? "—" : ago(now, p.valueAt)}</span></h3>
          {p.deleted ? <p class="error">deleted</p> : p.error !== null ? <p class="error">{p.error}</p> : null}
          <table>
            <thead><tr><th scope="col">Upstream</th><th scope="col">Health</th><th scope="col">Phi</th><th scope="col">Breaker</th><th scope="col">In flight</th><th scope="col">EWMA</th><th scope="col">Requests</th></tr></thead>
            <tbody>
              {(p.status?.upstreams ?? []).map((u) => {
                const breaker = u.breaker.status;
                return (
                  <tr class={breaker === "open" ? "down" : ""} data-upstream={u.id} data-breaker={breaker} data-requests={String(u.counts.requests)} data-read-at={String(p.valueAt ?? "")}>
                    <th scope="row">{u.id} <span class="muted">{u.url}</span></th>
                    <td>{u.health}{u.ejected ? " (ejected)" : ""}</td>
                    <td>{typeof u.phi === "number" ? u.phi.toFixed(1) : "—"}</td>
                    <td class={`breaker-${breaker}`}>{breaker}</td>
                    <td>{u.inFlight}</td>
                    <td>{typeof u.ewmaMs === "number" ? `${u.ewmaMs.toFixed(0)} ms` : "—"}</td>
                    <td><svg class="spark" width="80" height="20" role="img" aria-label={`request rate of ${u.id}`} data-spark={`${p.pool}/${u.id}`}><polyline fill="none" stroke="currentColor" points="" /></svg></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ))}
      {d?.truncated ? <p class="muted">Only the first {pools.length} pools are shown.</p> : null}
    </Card>
  );
}

type WorkItem = Extract<DashboardStatus["jobs"], { ok: true }>["data"]["items"][number];

function Stage({ st }: { st: NonNullable<WorkItem["summary"]>["stages"][number] }) {
  return (
    <p>
      <label>{st.name} <progress max={String(Math.max(1, st.total))} value={String(st.completed)}>{st.completed}/{st.total}</progress> {st.completed}/{st.total}</label>
      <span class="muted"> · {st.inProgress} running, {st.idle + st.waiting} waiting, {st.failed} failed</span>
    </p>
  );
}

function Jobs({ jobs, tasks, now }: { jobs: DashboardStatus["jobs"]; tasks: DashboardStatus["tasks"]; now: number }) {
  const list = jobs.ok ? jobs.data.items : [];
  const batches = tasks.ok ? tasks.data.items : [];
  const byState = new Map<string, number>();
  for (const b of batches) for (const st of b.summary?.stages ?? []) {
    for (const [k, v] of [["done", st.completed], ["running", st.inProgress], ["waiting", st.idle + st.waiting], ["failed", st.failed]] as const) if (v > 0) byState.set(k, (byState.get(k) ?? 0) + v);
  }
  const readNote = (w: WorkItem) => (w.readAt === null ? "not read yet" : w.gone ? "gone" : `read ${ago(now, w.valueAt)}${w.error === null ? "" : ` (last read failed: ${w.error.slice(0, 80)})`}`);
  return (
    <Card id="jobs" title="Jobs and tasks">
      <Failed s={jobs} />
      {list.length === 0 ? <p class="muted">No recent jobs.</p> : list.map((j) => (
        <div class="job" data-job={j.entry.id} data-phase={j.summary?.phase ?? ""}>
          <h3><code>{j.entry.id}</code> {j.entry.kind} — {j.summary?.phase ?? "—"} <span class="muted">· {readNote(j)}</span></h3>
          {(j.summary?.stages ?? []).map((st) => <Stage st={st} />)}
        </div>
      ))}
      <Failed s={tasks} />
      <p class="muted">Tasks of the {batches.length} newest batches: {[...byState].map(([k, v]) => `${v} ${k}`).join(", ") || "none"}</p>
      {batches.length === 0 ? null : (
        <details><summary>Batches</summary><ul>
          {batches.map((b) => <li data-batch={b.entry.id}><code>{b.entry.id}</code> {b.entry.size} tasks — {b.summary?.phase ?? "—"} <span class="muted">· {readNote(b)}</span></li>)}
        </ul></details>
      )}
      <p class="muted">One unfinished job or batch (or the list of them) is read per refresh, in turn; a finished one is read once.</p>
    </Card>
  );
}

/** Every section: the page's first render and each refresh. */
export function Live({ status }: { status: DashboardStatus }) {
  const now = status.at;
  return (
    <div id="live" data-at={String(now)} data-read={Object.entries(status.read).map(([k, v]) => `${k}=${v}`).join(" ")}>
      <Raft s={status.raft} now={now} />
      <Cache stats={status.cacheStats} ring={status.ring} now={now} />
      <Transactions s={status.transactions} now={now} />
      <Pools s={status.pools} now={now} />
      <Jobs jobs={status.jobs} tasks={status.tasks} now={now} />
    </div>
  );
}

const CSS = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1b1b; --muted: #666; --line: #ddd; --accent: #0b63c4; --bad: #b00020; --warn: #a05a00; --lead: #e8f1fc; }
@media (prefers-color-scheme: dark) { :root { --bg: #121212; --fg: #e8e8e8; --muted: #a0a0a0; --line: #333; --accent: #6aa9ff; --bad: #ff6b7f; --warn: #ffb454; --lead: #1b2a3d; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 16px; }
header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; justify-content: space-between; padding-top: 12px; }
#live { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); gap: 16px; }
section { border: 1px solid var(--line); border-radius: 8px; padding: 12px; overflow-x: auto; }
h1 { font-size: 1.4rem; margin: 0; } h2 { font-size: 1.15rem; margin: 0 0 8px; } h3 { font-size: 1rem; margin: 12px 0 4px; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
tr.leader { background: var(--lead); font-weight: 600; } tr.down, .breaker-open { color: var(--bad); } tr.doubt, .breaker-half-open { color: var(--warn); }
.muted { color: var(--muted); } .error { color: var(--bad); } .row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
button { font: inherit; padding: 2px 10px; border-radius: 6px; border: 1px solid var(--line); background: transparent; color: var(--accent); cursor: pointer; }
body:not(.is-admin) .admin { display: none; } progress { width: 160px; } .spark { color: var(--accent); }
form { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; } input { font: inherit; padding: 2px 6px; }
`;

/** The page's script: refresh, election timeline, sparklines, replicas lookup and the admin controls. */
const SCRIPT = `
(() => {
  const $ = (s) => document.querySelector(s);
  // The tokens live in this page's memory only (never web storage, never a URL): a reload asks again.
  let token = "", apiToken = "";
  const auth = (t) => (t ? { authorization: "Bearer " + t } : {});
  const elections = [];
  const sparks = new Map();
  function admin(on) { document.body.classList.toggle("is-admin", on); $("#admin-state").textContent = on ? "admin controls on" : "read only"; }
  admin(false);
  function afterRender() {
    const lead = $("#raft-leader");
    if (lead) {
      const term = Number(lead.dataset.term), leader = lead.dataset.leader;
      const last = elections[elections.length - 1];
      if (leader && (!last || last.term !== term)) elections.push({ term, leader, at: Date.now() });
      while (elections.length && Date.now() - elections[0].at > 10 * 60_000) elections.shift();
      $("#elections-count").textContent = String(Math.max(0, elections.length - 1));
      $("#timeline").replaceChildren(...elections.map((e) => { const li = document.createElement("li"); li.textContent = "term " + e.term + ": " + e.leader + " at " + new Date(e.at).toLocaleTimeString(); return li; }));
    }
    // A pool is read in turn, not on every refresh: a point per new reading, the rate over the time between readings.
    for (const row of document.querySelectorAll("tr[data-upstream]")) {
      const svg = row.querySelector("svg[data-spark]"); if (!svg) continue;
      const key = svg.dataset.spark, total = Number(row.dataset.requests), at = Number(row.dataset.readAt), series = sparks.get(key) || [];
      if (at && (!series.length || series[series.length - 1].at !== at)) series.push({ at, total });
      while (series.length > 30) series.shift(); sparks.set(key, series);
      const rates = series.slice(1).map((p, i) => Math.max(0, p.total - series[i].total) / Math.max(0.001, (p.at - series[i].at) / 1000)), max = Math.max(1, ...rates);
      svg.querySelector("polyline").setAttribute("points", rates.map((r, i) => (i * 80) / 29 + "," + (19 - (r * 18) / max)).join(" "));
    }
  }
  // One refresh at a time (the next starts a second after the last answered), keeping keyboard focus.
  let timer = 0;
  const schedule = (ms) => { clearTimeout(timer); timer = setTimeout(refresh, ms); };
  async function refresh() {
    // A tab nobody looks at reads nothing: each refresh is billed object calls.
    if (document.hidden) { schedule(1000); return; }
    try {
      const res = await fetch("/dashboard/fragment", { headers: auth(apiToken) });
      if (res.ok) {
        const html = await res.text();
        const f = document.activeElement && document.activeElement.closest("#live") ? document.activeElement.dataset : null;
        $("#live").outerHTML = html;
        if (f && f.action) { const sel = "#live [data-action='" + f.action + "']" + (f.node ? "[data-node='" + f.node + "']" : "") + (f.shard ? "[data-shard='" + f.shard + "']" : ""); const el = document.querySelector(sel); if (el) el.focus(); }
        afterRender(); $("#conn").textContent = "live";
      } else $("#conn").textContent = "error " + res.status;
    } catch { $("#conn").textContent = "offline"; }
    schedule(1000);
  }
  async function post(path, body) {
    try {
      const res = await fetch(path, { method: "POST", headers: { ...auth(token), "content-type": "application/json" }, body: JSON.stringify(body || {}) });
      $("#admin-result").textContent = path + ": " + res.status;
    } catch (err) { $("#admin-result").textContent = path + ": " + err; }
  }
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]"); if (!b) return;
    const a = b.dataset.action;
    if (a === "crash-node") post("/admin/raft/nodes/" + encodeURIComponent(b.dataset.node) + "/crash");
    if (a === "crash-shard") post("/admin/cache/shards/" + encodeURIComponent(b.dataset.shard) + "/crash");
    if (a === "partition") {
      const l = $("#raft-leader").dataset.leader;
      const others = [...document.querySelectorAll("tr[data-node]")].map((r) => r.dataset.node).filter((n) => n !== l);
      if (l && others.length) post("/admin/raft/partition", { sides: [[l], others] });
    }
    if (a === "heal") {
      post("/admin/raft/heal");
      for (const r of document.querySelectorAll("tr[data-shard]")) post("/admin/cache/shards/" + encodeURIComponent(r.dataset.shard) + "/fault", { mode: "healthy" });
    }
  });
  // Read once from the field, which is then cleared: the token stays in this closure alone.
  $("#token-form").addEventListener("submit", (e) => { e.preventDefault(); token = $("#admin-token").value.trim(); $("#admin-token").value = ""; admin(token !== ""); });
  $("#api-form").addEventListener("submit", (e) => { e.preventDefault(); apiToken = $("#api-token").value.trim(); $("#api-token").value = ""; schedule(0); });
  $("#key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("#lookup-key").value;
    try {
      const res = await fetch("/dashboard/replicas?key=" + encodeURIComponent(key), { headers: auth(apiToken) });
      const body = await res.json();
      $("#replicas").textContent = res.ok ? key + " → " + body.replicas.join(", ") : (body.error && body.error.message) || String(res.status);
    } catch (err) { $("#replicas").textContent = String(err); }
  });
  afterRender();
  schedule(1000);
})();
`;

/** The whole page; `nonce` is the response's CSP nonce (src/http/security-headers.ts), carried by its one inline style and script. */
export function Page({ status, nonce }: { status: DashboardStatus; nonce: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>durable-cluster</title>
        <link rel="icon" href="data:," />
        <style nonce={nonce} dangerouslySetInnerHTML={{ __html: CSS }} />
      </head>
      <body>
        <header>
          <h1>durable-cluster</h1>
          <p><span id="conn" role="status">live</span> · <span id="admin-state">read only</span></p>
        </header>
        <main>
          <section aria-labelledby="controls-h">
            <h2 id="controls-h">Controls</h2>
            <form id="token-form"><label for="admin-token">Admin token</label><input id="admin-token" type="password" autocomplete="off" /><button type="submit">Use</button></form>
            <form id="api-form"><label for="api-token">API token (if set)</label><input id="api-token" type="password" autocomplete="off" /><button type="submit">Use</button></form>
            <form id="key-form"><label for="lookup-key">Replicas of key</label><input id="lookup-key" type="text" required /><button type="submit">Look up</button><output id="replicas" for="lookup-key"></output></form>
            <p class="admin"><button type="button" data-action="partition">Partition the leader</button> <button type="button" data-action="heal">Heal (Raft and cache faults)</button> <output id="admin-result" aria-live="polite"></output></p>
            <details><summary>Election timeline (last 10 minutes)</summary><ol id="timeline"></ol></details>
          </section>
          <Live status={status} />
        </main>
        <script nonce={nonce} dangerouslySetInnerHTML={{ __html: SCRIPT }} />
      </body>
    </html>
  );
}

/** GET / (the page) and GET /dashboard/fragment (its sections, for the refresh); both behind pageSecurityHeaders. */
export function dashboardPages() {
  return {
    page: async (c: Context<AppEnv>) => c.html(`<!doctype html>${(<Page status={await collectStatus(c)} nonce={c.get("secureHeadersNonce") ?? ""} />).toString()}`),
    fragment: async (c: Context<AppEnv>) => c.html((<Live status={await collectStatus(c)} />).toString()),
  };
}
