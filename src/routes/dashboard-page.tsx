/** @jsxImportSource hono/jsx */
import type { Context, Hono } from "hono";
import type { Child } from "hono/jsx";
import type { AppEnv } from "../http/app-env";
import { collectStatus, type DashboardSection, type DashboardStatus } from "./dashboard";

/**
 * The dashboard, server-rendered with Hono's JSX: `Page` once, then `Live` (every section) again as an
 * HTML fragment each second; the page's small script swaps it in, keeps the election timeline and sends
 * the fault controls (only with an admin token typed into the page). No build step, no CDN, no fonts.
 */

type Obj = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const fmtBytes = (b: number) => (b >= 1048576 ? `${(b / 1048576).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
const ago = (now: number, t: unknown) => (typeof t === "number" && t > 0 ? `${Math.max(0, Math.round((now - t) / 1000))} s ago` : "—");

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

function Raft({ s, now }: { s: DashboardSection; now: number }) {
  const d = s.ok ? (s.data as Obj) : {};
  const leader = str(d.leader);
  const members = arr(d.members);
  const leaderStatus = members.find((m) => m.node === leader)?.status as Obj | undefined;
  const leaderTerm = num(leaderStatus?.term);
  // The leader's view of each follower: when it last answered (its replication progress).
  const contact = new Map(arr(leaderStatus?.progress).map((p) => [str(p.id), p.lastContact]));
  return (
    <Card id="raft" title="Raft">
      <Failed s={s} />
      <p data-leader={leader} data-term={String(leaderTerm)} id="raft-leader">
        Leader: <strong>{leader === "" ? "none (election in progress)" : leader}</strong>
        {leader === "" ? null : <> · term {leaderTerm}</>}
      </p>
      <table>
        <thead><tr><th scope="col">Node</th><th scope="col">Role</th><th scope="col">Term</th><th scope="col">Commit</th><th scope="col">Applied</th><th scope="col">Log</th><th scope="col">Snapshot</th><th scope="col">Last contact</th><th scope="col">Admin</th></tr></thead>
        <tbody>
          {members.map((m) => {
            const st = (m.status ?? {}) as Obj;
            const node = str(m.node);
            const isLeader = node === leader;
            return (
              <tr class={isLeader ? "leader" : m.reachable === false ? "down" : ""} data-node={node} data-role={str(st.role)}>
                <th scope="row">{node}{isLeader ? " ★" : ""}</th>
                <td>{m.reachable === false ? "unreachable" : str(st.role)}</td>
                <td>{num(st.term)}</td><td>{num(st.commit)}</td><td>{num(st.applied)}</td>
                <td>{num(st.lastIndex) - num(st.snapshotIndex)}</td><td>{num(st.snapshotIndex)}</td>
                <td>{isLeader ? "(leader)" : ago(now, contact.get(node))}</td>
                <td><button type="button" class="admin" data-action="crash-node" data-node={node} aria-label={`Crash ${node}`}>Crash</button></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p class="muted">Updated {ago(now, now)}. Elections seen (term changes): <span id="elections-count">0</span></p>
    </Card>
  );
}

/** The ring as arcs, one per shard, sized by its share of the hash space. */
function Ring({ shards }: { shards: Obj[] }) {
  const r = 70;
  const c = 2 * Math.PI * r;
  let offset = 0;
  const hue = (i: number) => (i * 360) / Math.max(1, shards.length);
  return (
    <svg viewBox="0 0 200 200" width="200" height="200" role="img" aria-label="The hash ring: shards as arcs sized by ownership">
      {shards.map((sh, i) => {
        const len = num(sh.ownership) * c;
        const el = <circle cx="100" cy="100" r={String(r)} fill="none" stroke={`hsl(${hue(i)} 60% 50%)`} stroke-width="24" stroke-dasharray={`${len} ${c - len}`} stroke-dashoffset={String(-offset)} transform="rotate(-90 100 100)"><title>{`${str(sh.id)}: ${(num(sh.ownership) * 100).toFixed(1)}%`}</title></circle>;
        offset += len;
        return el;
      })}
    </svg>
  );
}

function Cache({ stats, ring }: { stats: DashboardSection; ring: DashboardSection }) {
  const shards = arr(stats.ok ? (stats.data as Obj).shards : []);
  const ringShards = arr(ring.ok ? (ring.data as Obj).shards : []);
  const own = new Map(ringShards.map((s) => [str(s.id), num(s.ownership)]));
  return (
    <Card id="cache" title="Cache">
      <Failed s={stats} />
      <Failed s={ring} />
      <div class="row">
        <Ring shards={ringShards} />
        <table>
          <thead><tr><th scope="col">Shard</th><th scope="col">Share</th><th scope="col">Keys</th><th scope="col">Bytes</th><th scope="col">Hit rate</th><th scope="col">Evictions</th><th scope="col">Admin</th></tr></thead>
          <tbody>
            {shards.map((s) => {
              const st = (s.stats ?? {}) as Obj;
              const lookups = num(st.hits) + num(st.misses);
              const fault = str((st.fault as Obj | undefined)?.mode);
              return (
                <tr class={s.reachable === false || fault === "down" ? "down" : ""} data-shard={str(s.shard)} data-keys={String(num(st.keys))}>
                  <th scope="row">{str(s.shard)}{fault !== "" && fault !== "healthy" ? ` (${fault})` : ""}</th>
                  <td>{((own.get(str(s.shard)) ?? 0) * 100).toFixed(1)}%</td>
                  <td>{num(st.keys)}</td><td>{fmtBytes(num(st.bytes))}</td>
                  <td>{lookups === 0 ? "—" : `${((100 * num(st.hits)) / lookups).toFixed(0)}%`}</td><td>{num(st.evictions)}</td>
                  <td><button type="button" class="admin" data-action="crash-shard" data-shard={str(s.shard)} aria-label={`Crash ${str(s.shard)}`}>Crash</button></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function Transactions({ s, now }: { s: DashboardSection; now: number }) {
  const txns = arr(s.ok ? (s.data as Obj).transactions : []);
  return (
    <Card id="txns" title="Transactions">
      <Failed s={s} />
      {s.ok && str((s.data as Obj).note) !== "" ? <p class="muted">{str((s.data as Obj).note)}</p> : null}
      {s.ok && arr((s.data as Obj).unreachable).length > 0 ? <p class="error">Not answering: {(((s.data as Obj).unreachable as string[]) ?? []).join(", ")}</p> : null}
      {txns.length === 0 ? <p class="muted">No recent transactions.</p> : (
        <table>
          <thead><tr><th scope="col">Id</th><th scope="col">State</th><th scope="col">Participants</th><th scope="col">Started</th></tr></thead>
          <tbody>
            {txns.map((t) => (
              <tr class={t.inDoubt === true ? "doubt" : ""}>
                <th scope="row"><code>{str(t.id).slice(0, 24)}</code></th>
                <td>{str(t.phase)}{t.inDoubt === true ? " — in doubt" : ""}</td>
                <td>{arr(t.participants).map((p) => str(p.shard)).join(", ")}</td>
                <td>{ago(now, t.startedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function Pools({ s }: { s: DashboardSection }) {
  const pools = arr(s.ok ? (s.data as Obj).pools : []);
  return (
    <Card id="lb" title="Load balancer">
      <Failed s={s} />
      {pools.length === 0 ? <p class="muted">No pools (PUT /admin/lb/pools/&lt;name&gt;).</p> : pools.map((p) => (
        <div class="pool" data-pool={str(p.pool)}>
          <h3>{str(p.pool)} <span class="muted">({str(p.algorithm)})</span></h3>
          {str(p.error) !== "" ? <p class="error">{str(p.error)}</p> : null}
          <table>
            <thead><tr><th scope="col">Upstream</th><th scope="col">Health</th><th scope="col">Phi</th><th scope="col">Breaker</th><th scope="col">In flight</th><th scope="col">EWMA</th><th scope="col">Requests</th></tr></thead>
            <tbody>
              {arr(p.upstreams).map((u) => {
                const breaker = str((u.breaker as Obj | undefined)?.status);
                const requests = num((u.counts as Obj | undefined)?.requests);
                return (
                  <tr class={breaker === "open" ? "down" : ""} data-upstream={str(u.id)} data-breaker={breaker} data-requests={String(requests)}>
                    <th scope="row">{str(u.id)} <span class="muted">{str(u.url)}</span></th>
                    <td>{str(u.health)}{u.ejected === true ? " (ejected)" : ""}</td>
                    <td>{typeof u.phi === "number" ? u.phi.toFixed(1) : "—"}</td>
                    <td class={`breaker-${breaker}`}>{breaker}</td>
                    <td>{num(u.inFlight)}</td>
                    <td>{typeof u.ewmaMs === "number" ? `${u.ewmaMs.toFixed(0)} ms` : "—"}</td>
                    <td><svg class="spark" width="80" height="20" role="img" aria-label={`request rate of ${str(u.id)}`} data-spark={`${str(p.pool)}/${str(u.id)}`}><polyline fill="none" stroke="currentColor" points="" /></svg></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ))}
    </Card>
  );
}

function Jobs({ jobs, tasks }: { jobs: DashboardSection; tasks: DashboardSection }) {
  const list = arr(jobs.ok ? (jobs.data as Obj).jobs : []);
  const recentTasks = arr(tasks.ok ? (tasks.data as Obj).tasks : []);
  const byState = new Map<string, number>();
  for (const t of recentTasks) byState.set(str(t.status), (byState.get(str(t.status)) ?? 0) + 1);
  return (
    <Card id="jobs" title="Jobs and tasks">
      <Failed s={jobs} />
      {list.length === 0 ? <p class="muted">No recent jobs.</p> : list.map((j) => (
        <div class="job" data-job={str(j.id)} data-phase={str(j.phase)}>
          <h3><code>{str(j.id)}</code> {str(j.kind)} — {str(j.phase)}</h3>
          {arr(j.stages).map((st) => {
            const total = num(st.total);
            const done = num(st.completed);
            return (
              <p>
                <label>{str(st.name)} <progress max={String(Math.max(1, total))} value={String(done)}>{done}/{total}</progress> {done}/{total}</label>
                <span class="muted"> · {num(st.inProgress)} running, {num(st.idle) + num(st.waiting)} waiting, {num(st.failed)} failed</span>
              </p>
            );
          })}
        </div>
      ))}
      <Failed s={tasks} />
      <p class="muted">Recent tasks: {[...byState].map(([k, v]) => `${v} ${k}`).join(", ") || "none"}</p>
    </Card>
  );
}

/** Every section: the page's first render and each refresh. */
export function Live({ status }: { status: DashboardStatus }) {
  const now = status.at;
  return (
    <div id="live" data-at={String(now)}>
      <Raft s={status.raft} now={now} />
      <Cache stats={status.cacheStats} ring={status.ring} />
      <Transactions s={status.transactions} now={now} />
      <Pools s={status.pools} />
      <Jobs jobs={status.jobs} tasks={status.tasks} />
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
  let token = sessionStorage.getItem("adminToken") || "";
  const apiToken = () => sessionStorage.getItem("apiToken") || "";
  const auth = (t) => (t ? { authorization: "Bearer " + t } : {});
  const elections = [];
  const sparks = new Map();
  function admin(on) { document.body.classList.toggle("is-admin", on); $("#admin-state").textContent = on ? "admin controls on" : "read only"; }
  admin(token !== "");
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
    for (const row of document.querySelectorAll("tr[data-upstream]")) {
      const svg = row.querySelector("svg[data-spark]"); if (!svg) continue;
      const key = svg.dataset.spark, total = Number(row.dataset.requests), series = sparks.get(key) || [];
      series.push(total); while (series.length > 30) series.shift(); sparks.set(key, series);
      const rates = series.slice(1).map((v, i) => Math.max(0, v - series[i])), max = Math.max(1, ...rates);
      svg.querySelector("polyline").setAttribute("points", rates.map((r, i) => (i * 80) / 29 + "," + (19 - (r * 18) / max)).join(" "));
    }
  }
  // One refresh at a time (the next starts a second after the last answered), keeping keyboard focus.
  async function refresh() {
    try {
      const res = await fetch("/dashboard/fragment", { headers: auth(apiToken()) });
      if (res.ok) {
        const html = await res.text();
        const f = document.activeElement && document.activeElement.closest("#live") ? document.activeElement.dataset : null;
        $("#live").outerHTML = html;
        if (f && f.action) { const sel = "#live [data-action='" + f.action + "']" + (f.node ? "[data-node='" + f.node + "']" : "") + (f.shard ? "[data-shard='" + f.shard + "']" : ""); const el = document.querySelector(sel); if (el) el.focus(); }
        afterRender(); $("#conn").textContent = "live";
      } else $("#conn").textContent = "error " + res.status;
    } catch { $("#conn").textContent = "offline"; }
    setTimeout(refresh, 1000);
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
  $("#token-form").addEventListener("submit", (e) => { e.preventDefault(); token = $("#admin-token").value.trim(); sessionStorage.setItem("adminToken", token); admin(token !== ""); });
  $("#api-form").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("apiToken", $("#api-token").value.trim()); refresh(); });
  $("#key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("#lookup-key").value;
    try {
      const res = await fetch("/dashboard/replicas?key=" + encodeURIComponent(key), { headers: auth(apiToken()) });
      const body = await res.json();
      $("#replicas").textContent = res.ok ? key + " → " + body.replicas.join(", ") : (body.error && body.error.message) || String(res.status);
    } catch (err) { $("#replicas").textContent = String(err); }
  });
  afterRender();
  setTimeout(refresh, 1000);
})();
`;

export function Page({ status }: { status: DashboardStatus }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>durable-cluster</title>
        <link rel="icon" href="data:," />
        <style dangerouslySetInnerHTML={{ __html: CSS }} />
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
        <script dangerouslySetInnerHTML={{ __html: SCRIPT }} />
      </body>
    </html>
  );
}

/** GET / (the page) and GET /dashboard/fragment (its sections, for the refresh), answered by the root app's routes. */
export function dashboardPages(app: Hono<AppEnv>) {
  return {
    page: async (c: Context<AppEnv>) => c.html(`<!doctype html>${(<Page status={await collectStatus(app, c)} />).toString()}`),
    fragment: async (c: Context<AppEnv>) => c.html((<Live status={await collectStatus(app, c)} />).toString()),
  };
}
