/**
 * The viewer page: plain HTML, CSS and JavaScript served as one string, nothing to build.
 */
export const VIEWER_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>camwire viewer</title>
<style>
  :root { color-scheme: dark; font-family: system-ui, sans-serif; }
  body { margin: 0; background: #111; color: #eee; }
  header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: baseline; padding: .75rem 1rem; background: #1c1c1c; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header .meta { font-size: .85rem; color: #aaa; }
  main { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); gap: .75rem; padding: .75rem; }
  figure { margin: 0; background: #000; border-radius: 6px; overflow: hidden; }
  figure img { display: block; width: 100%; height: auto; background: #222; min-height: 120px; }
  figcaption { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .25rem .75rem; padding: .4rem .6rem; font-size: .8rem; background: #1a1a1a; }
  figcaption b { color: #fff; }
  .empty { padding: 2rem 1rem; color: #aaa; }
  ul { margin: .25rem 0 0; padding-left: 1.2rem; }
  aside { padding: 0 1rem 1rem; font-size: .85rem; color: #bbb; }
  form { margin-top: 1rem; display: grid; gap: .4rem; max-width: 32rem; }
  form .row { display: flex; flex-wrap: wrap; gap: .5rem; }
  input, select, textarea, button { font: inherit; background: #222; color: #eee; border: 1px solid #444; border-radius: 4px; padding: .3rem .4rem; }
  textarea { width: 100%; box-sizing: border-box; }
  button { cursor: pointer; justify-self: start; }
</style>
</head>
<body>
<header>
  <h1>camwire viewer</h1>
  <span class="meta" id="summary">connecting…</span>
</header>
<main id="tiles"><p class="empty">No video yet. Start a sender, e.g. <code>npx camwire send --server HOST:PORT --id cam1</code>.</p></main>
<aside>
  <b>Clients online</b><ul id="clients"></ul><b>Groups</b><ul id="groups"></ul>
  <form id="cmd">
    <b>Send a command</b>
    <div class="row"><label>to <select id="cmd-to" required></select></label>
    <label>name <input id="cmd-name" required placeholder="zoom" pattern="[^ ]+"></label></div>
    <label>parameters, one key=value per line<textarea id="cmd-params" rows="2" placeholder="level=2"></textarea></label>
    <button type="submit">Send</button> <output id="cmd-result"></output>
  </form>
</aside>
<script>
const tiles = document.getElementById('tiles');
const shown = new Map();
function fmtRate(bps) { return bps > 1e6 ? (bps / 1e6).toFixed(2) + ' Mbit/s' : (bps / 1e3).toFixed(0) + ' kbit/s'; }
function li(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [empty]).map((t) => { const e = document.createElement('li'); e.textContent = t; return e; }));
}
async function refresh() {
  let data;
  try { data = await (await fetch('/api/sources', { cache: 'no-store' })).json(); }
  catch { document.getElementById('summary').textContent = 'server unreachable, retrying…'; return; }
  document.getElementById('summary').textContent = data.clients.length + ' client(s) online, ' + data.sources.length + ' video source(s)';
  li(document.getElementById('clients'), data.clients.map((c) => c.id + (c.groups.length ? ' (' + c.groups.join(', ') + ')' : '')), 'none');
  fillTargets(data.clients.filter((c) => c.channels.includes('command')).map((c) => c.id));
  li(document.getElementById('groups'), data.groups.map((g) => g.id + (g.name ? ' “' + g.name + '”' : '') + ': ' + g.members.join(', ')), 'none');
  const keys = new Set();
  for (const s of data.sources) {
    const key = s.client + '/' + s.mediaIndex;
    keys.add(key);
    let t = shown.get(key);
    if (!t) {
      const fig = document.createElement('figure');
      fig.dataset.source = key;
      const img = document.createElement('img');
      img.alt = 'video from ' + key;
      if (s.imageType === 'jpeg') img.src = '/mjpeg/' + encodeURIComponent(s.client) + '/' + s.mediaIndex;
      const cap = document.createElement('figcaption');
      fig.append(img, cap);
      t = { fig, cap };
      shown.set(key, t);
      if (shown.size === 1) tiles.replaceChildren();
      tiles.append(fig);
    }
    t.cap.innerHTML = '';
    const parts = [['', s.client + (s.mediaIndex ? ' #' + s.mediaIndex : '')], ['', s.width + '×' + s.height + ' ' + s.imageType], ['fps ', s.fps], ['', fmtRate(s.bitrate)], ['latency ', s.latency + ' ms']];
    for (const [label, value] of parts) { const sp = document.createElement('span'); sp.innerHTML = label + '<b></b>'; sp.lastChild.textContent = value; t.cap.append(sp); }
  }
  for (const [key, t] of shown) if (!keys.has(key)) { t.fig.remove(); shown.delete(key); }
}
function fillTargets(ids) {
  const sel = document.getElementById('cmd-to');
  const cur = sel.value;
  if ([...sel.options].map((o) => o.value).join() === ids.join()) return;
  sel.replaceChildren(...ids.map((id) => { const o = document.createElement('option'); o.value = o.textContent = id; return o; }));
  if (ids.includes(cur)) sel.value = cur;
}
document.getElementById('cmd').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = document.getElementById('cmd-result');
  const params = {};
  for (const line of document.getElementById('cmd-params').value.split('\\n')) {
    const i = line.indexOf('=');
    if (i > 0) { const v = line.slice(i + 1).trim(); params[line.slice(0, i).trim()] = /^-?\\d+(\\.\\d+)?$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v; }
  }
  out.textContent = 'sending…';
  try {
    const r = await fetch('/api/command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: document.getElementById('cmd-to').value, name: document.getElementById('cmd-name').value, params }) });
    const j = await r.json();
    out.textContent = r.ok ? 'acknowledged' : 'refused: ' + j.error;
  } catch (err) { out.textContent = 'failed: ' + err; }
});
refresh();
setInterval(refresh, 1500);
</script>
</body>
</html>
`;
