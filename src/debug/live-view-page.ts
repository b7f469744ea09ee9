/**
 * The live view: one self-contained HTML page (no external script, style, font or image; its CSP
 * forbids them) that draws the machine and follows the lifecycle over Server-Sent Events.
 */
export function liveViewPage(input: { svg: string; eventsPath: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lameduck · lifecycle</title>
<style>${style}</style>
</head>
<body data-state="" data-connection="connecting">
<header>
  <h1>lameduck <span>lifecycle</span></h1>
  <div id="connection" class="pill">connecting</div>
</header>
<main>
  <section class="now">
    <div><label>state</label><output id="state">-</output></div>
    <div><label>/ready</label><output id="readiness" class="pill">-</output></div>
    <div><label>in flight</label><output id="in-flight">-</output><div class="bar"><div id="in-flight-bar"></div></div></div>
    <div><label>completed</label><output id="completed">-</output></div>
    <div><label>aborted</label><output id="aborted">-</output></div>
    <div><label>rejected</label><output id="rejected">-</output><small id="rejected-by"></small></div>
    <div><label>abandoned</label><output id="abandoned">-</output></div>
    <div><label>outcome</label><output id="outcome">-</output><small id="exit-code"></small></div>
  </section>
  <section class="replica" id="replica" hidden>
    <div><label>replica</label><output id="replica-state" class="pill">-</output></div>
    <div><label>workers serving</label><output id="replica-workers">-</output></div>
    <div><label>other workers' in flight</label><output id="replica-peers">-</output><small id="replica-peers-more"></small></div>
    <div class="members"><label>workers</label><ol id="replica-members"></ol></div>
  </section>
  <section class="diagram">${input.svg}</section>
  <section class="drain" id="drain" hidden>
    <label>drain</label>
    <div class="bar wide"><div id="drain-bar"></div></div>
    <small id="drain-text"></small>
  </section>
  <section class="log"><label>transitions</label><ol id="log"></ol></section>
</main>
<script>
const eventsPath = ${JSON.stringify(input.eventsPath)};
${script}
</script>
</body>
</html>
`
}

const style = `
:root { color-scheme: light; --ink: #1d2433; --muted: #6b7385; --line: #c9cfdb; --bg: #f6f7f9;
  --card: #fff; --accent: #2f6fed; --ok: #1f9d55; --warn: #d97706; --bad: #c2410c; --stop: #475569; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: center; justify-content: space-between; padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 18px; } h1 span { color: var(--muted); font-weight: 400; }
main { padding: 16px 24px; display: grid; gap: 16px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
label { display: block; color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .06em; }
output { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
small { display: block; color: var(--muted); font-size: 11px; min-height: 1em; }
.now { display: grid; grid-template-columns: minmax(0, 1.7fr) repeat(7, minmax(0, 1fr)); gap: 12px; }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 13px; font-weight: 600; background: #e5e7eb; color: var(--ink); }
.pill.ready, .pill.live { background: #dcfce7; color: #166534; }
.pill.at_capacity, .pill.starting, .pill.draining { background: #fef3c7; color: #92400e; }
.pill.stopped, .pill.ended { background: #e2e8f0; color: #334155; }
.pill.lost { background: #fee2e2; color: #991b1b; }
.bar { height: 6px; background: #e5e7eb; border-radius: 3px; margin-top: 4px; overflow: hidden; }
.bar > div { height: 100%; width: 0; background: var(--accent); }
.bar.wide { height: 10px; }
.diagram svg { width: 100%; height: auto; display: block; }
svg .state rect { fill: #fff; stroke: #94a3b8; stroke-width: 1.5; }
svg .state.compound rect { fill: #f8fafc; stroke-dasharray: 4 3; }
svg .state .final-ring { fill: none; }
svg .state text { fill: var(--ink); font-family: system-ui, sans-serif; }
svg .state .invokes { fill: var(--muted); }
svg .state.current > rect:first-child { fill: var(--accent); stroke: #1e4fc2; stroke-width: 2.5; }
svg .state.current text { fill: #fff; }
svg .state.current .final-ring { stroke: #fff; }
svg .state.active > rect:first-child { fill: #eaf1ff; stroke: var(--accent); stroke-width: 2; stroke-dasharray: none; }
svg .edge path { fill: none; stroke: #64748b; stroke-width: 1.3; }
svg .edge text { fill: #475569; font-family: ui-monospace, Menlo, monospace; }
svg marker path { fill: #64748b; }
svg .initial { fill: var(--ink); }
svg > path { fill: none; stroke: #64748b; stroke-width: 1.3; }
.replica:not([hidden]) { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)) minmax(0, 2fr); gap: 12px; }
.members ol { margin: 4px 0 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 6px; font-size: 12px; }
.members li { padding: 2px 8px; border: 1px solid var(--line); border-radius: 6px; font-family: ui-monospace, Menlo, monospace; }
.members li.self { border-color: var(--accent); font-weight: 600; }
.log ol { margin: 6px 0 0; padding-left: 20px; font-family: ui-monospace, Menlo, monospace; font-size: 12px; max-height: 180px; overflow: auto; }
`

// Plain browser JavaScript: the page is served as is, nothing is bundled.
const script = `
const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const token = query.get('token');
const source = new EventSource(eventsPath + (token ? '?token=' + encodeURIComponent(token) : ''));
let last = null;

function setConnection(state) {
  document.body.dataset.connection = state;
  const pill = $('connection');
  pill.textContent = { live: 'live', ended: 'stream ended', lost: 'connection lost', connecting: 'connecting' }[state];
  pill.className = 'pill ' + state;
}

function highlight(path) {
  for (const node of document.querySelectorAll('[data-state]')) {
    if (node === document.body) continue;
    const p = node.dataset.state;
    node.classList.toggle('current', p === path);
    node.classList.toggle('active', path.startsWith(p + '.'));
  }
}

function seconds(ms) { return (ms / 1000).toFixed(1) + ' s'; }

// Frames come when something changes; the drain clock moves between them. Server time is
// frame.at plus the time since it arrived, so the browser's clock does not matter.
let receivedAt = 0;
function drainProgress(frame) {
  const t = frame.timeline;
  if (t.drainStartedAt === null) return;
  const end = t.stoppedAt ?? frame.at + (performance.now() - receivedAt);
  const used = Math.max(0, end - t.drainStartedAt);
  $('drain').hidden = false;
  $('drain-bar').style.width = Math.min(100, (100 * used) / frame.settings.drainTimeoutMs) + '%';
  $('drain-text').textContent = seconds(used) + ' of ' + seconds(frame.settings.drainTimeoutMs) +
    (frame.signals.length ? ' · after ' + frame.signals.join(', ') : '');
}
setInterval(() => { if (last) drainProgress(last); }, 200);

// A worker of a cluster: the replica as its primary last told this worker; absent in a single process.
function renderReplica(replica) {
  $('replica').hidden = !replica;
  if (!replica) return;
  $('replica-state').textContent = replica.state;
  $('replica-state').className = 'pill ' + replica.state;
  $('replica-workers').textContent = replica.workers.running + ' / ' + replica.workers.expected;
  $('replica-peers').textContent = replica.peers.inFlight;
  $('replica-peers-more').textContent = 'streams ' + replica.peers.streams + ', sessions ' + replica.peers.sessions;
  $('replica-members').replaceChildren(...(replica.members ?? []).map((m) => {
    const item = document.createElement('li');
    item.textContent = 'worker ' + m.id + ': ' + m.phase + (m.self ? ' (this one)' : '');
    item.className = m.self ? 'self' : '';
    item.dataset.worker = m.id;
    item.dataset.phase = m.phase;
    return item;
  }));
}

function render(frame) {
  const c = frame.counts;
  document.body.dataset.state = frame.state;
  document.body.dataset.path = frame.path;
  $('state').textContent = frame.path;
  $('readiness').textContent = frame.readiness.status;
  $('readiness').className = 'pill ' + frame.readiness.status;
  $('in-flight').textContent = c.inFlight + ' / ' + c.maxConcurrency;
  $('in-flight-bar').style.width = Math.min(100, (100 * c.inFlight) / c.maxConcurrency) + '%';
  $('completed').textContent = c.completed;
  $('aborted').textContent = c.aborted;
  $('abandoned').textContent = c.abandoned;
  const rejected = Object.entries(c.rejected).filter(([, n]) => n > 0);
  $('rejected').textContent = rejected.reduce((sum, [, n]) => sum + n, 0);
  $('rejected-by').textContent = rejected.map(([why, n]) => why + ' ' + n).join(', ');
  $('outcome').textContent = frame.outcome ?? '-';
  $('exit-code').textContent = frame.exitCode === null ? '' : 'exit code ' + frame.exitCode;
  highlight(frame.path);
  renderReplica(frame.replica);

  receivedAt = performance.now();
  drainProgress(frame);

  if (!last || last.path !== frame.path) {
    const item = document.createElement('li');
    item.textContent = new Date(frame.at).toISOString().slice(11, 23) + '  ' + frame.path +
      '  (in flight ' + c.inFlight + ')' + (frame.outcome ? '  ' + frame.outcome : '');
    $('log').append(item);
  }
  last = frame;
}

source.addEventListener('open', () => setConnection('live'));
source.addEventListener('lifecycle', (event) => render(JSON.parse(event.data)));
source.addEventListener('error', () => {
  // The stream ends with the service: after 'stopped' there is nothing to reconnect to.
  if (last && last.state === 'stopped') { source.close(); setConnection('ended'); }
  else setConnection('lost');
});
`
