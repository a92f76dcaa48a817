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
  main, .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); gap: .75rem; padding: .75rem; }
  #me { padding: 0 1rem; font-size: .85rem; }
  canvas { display: block; width: 100%; height: auto; background: #222; }
  #me-log { max-height: 8rem; overflow: auto; }
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
  .spark { display: grid; grid-template-columns: repeat(3, 1fr); gap: .25rem .5rem; padding: 0 .6rem .4rem; background: #1a1a1a; font-size: .7rem; color: #999; }
  .spark canvas, #server canvas { display: block; width: 100%; height: 24px; background: #161616; }
  .tools { display: flex; gap: .4rem; padding: 0 .6rem .5rem; background: #1a1a1a; }
  .tools a, .tools button { font-size: .75rem; padding: .15rem .45rem; color: #ddd; text-decoration: none; border: 1px solid #444; border-radius: 4px; background: #222; }
  #server { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .25rem .75rem; align-items: end; padding: .5rem 1rem; font-size: .8rem; color: #bbb; background: #181818; }
  #server-counts { grid-column: 1 / -1; }
  figure:fullscreen { display: flex; flex-direction: column; justify-content: center; }
  figure:fullscreen img { flex: 1; min-height: 0; object-fit: contain; }
  figure canvas.video { min-height: 120px; }
  figure .note { margin: 0; padding: .5rem .6rem; font-size: .85rem; color: #fc6; background: #222; }
</style>
</head>
<body>
<header>
  <h1>camwire viewer</h1>
  <span class="meta" id="summary">connecting…</span>
</header>
<section id="server" aria-label="server">
  <span id="server-counts">…</span>
  <label>clients (60 s)<canvas id="server-clients" width="180" height="24"></canvas></label>
  <label>links (60 s)<canvas id="server-links" width="180" height="24"></canvas></label>
  <label>traffic (60 s)<canvas id="server-traffic" width="180" height="24"></canvas></label>
</section>
<main id="tiles"><p class="empty">No video yet. Start a sender, e.g. <code>npx camwire send --server HOST:PORT --id cam1</code>.</p></main>
<section id="me">
  <form id="join">
    <b>Be a client</b> (receive what is sent to you or your group, send as yourself)
    <div class="row"><label>id <input id="me-id" required></label>
    <label>group <input id="me-group" placeholder="optional"></label>
    <label>user <input id="me-user" placeholder="if the server asks" autocomplete="username"></label>
    <label>password <input id="me-password" type="password" autocomplete="current-password"></label>
    <button type="submit" id="me-connect">Connect</button>
    <button type="button" id="me-camera" disabled>Send my camera</button>
    <output id="me-state">not connected</output> <output id="me-audio"></output></div>
  </form>
  <div id="me-tiles" class="tiles"></div>
  <ul id="me-log"></ul>
</section>
<aside>
  <b>Clients</b><ul id="clients"></ul><b>Groups</b><ul id="groups"></ul>
  <form id="cmd">
    <b>Send a command</b>
    <div class="row"><label>to <select id="cmd-to" required></select></label>
    <label>name <input id="cmd-name" required placeholder="zoom" pattern="[^ ]+"></label></div>
    <label>parameters, one key=value per line<textarea id="cmd-params" rows="2" placeholder="level=2"></textarea></label>
    <button type="submit">Send</button> <output id="cmd-result"></output>
    <label>or a file to the same client <input type="file" id="file-input"></label>
    <output id="file-result"></output>
  </form>
</aside>
<script>
const tiles = document.getElementById('tiles');
const shown = new Map();
// History for the sparklines: the last 60 s, one point per poll (every 1.5 s), newest at the right; null = unknown.
const HISTORY = 40;
const serverHist = { clients: [], links: [], traffic: [] };
function pushHist(arr, v) { arr.push(v); if (arr.length > HISTORY) arr.shift(); }
function drawSpark(canvas, values) {
  const w = canvas.width; const h = canvas.height; const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  const known = values.filter((v) => v !== null);
  canvas.dataset.points = String(known.length);
  canvas.title = known.length ? 'last ' + known[known.length - 1] + ', max ' + Math.max(...known) : 'no data';
  if (known.length < 2) return;
  const max = Math.max(...known) || 1;
  ctx.strokeStyle = '#6cf'; ctx.lineWidth = 1.5; ctx.beginPath();
  let drawing = false;
  values.forEach((v, i) => {
    if (v === null) { drawing = false; return; }
    const x = 1 + ((HISTORY - values.length + i) / (HISTORY - 1)) * (w - 2); const y = h - 2 - (v / max) * (h - 4);
    if (drawing) ctx.lineTo(x, y); else { ctx.moveTo(x, y); drawing = true; }
  });
  ctx.stroke();
}
function fmtRate(bps) { return bps > 1e6 ? (bps / 1e6).toFixed(2) + ' Mbit/s' : (bps / 1e3).toFixed(0) + ' kbit/s'; }
function li(list, items, empty) {
  list.replaceChildren(...(items.length ? items : [empty]).map((t) => { const e = document.createElement('li'); e.textContent = t; return e; }));
}
async function refresh() {
  let data;
  try { data = await (await fetch('/api/sources', { cache: 'no-store' })).json(); }
  catch { document.getElementById('summary').textContent = 'server unreachable, retrying…'; return; }
  const sendingOnly = data.clients.filter((c) => !c.online).length;
  document.getElementById('summary').textContent = data.online + ' client(s) online' + (sendingOnly ? ', ' + sendingOnly + ' sending only' : '') + ', ' + data.sources.length + ' video source(s)';
  const traffic = data.sources.reduce((n, s) => n + s.bitrate, 0);
  document.getElementById('server-counts').textContent = data.online + ' online, ' + sendingOnly + ' sending, ' + data.groups.length + ' group(s), ' + data.links + ' link(s), video ' + fmtRate(traffic);
  pushHist(serverHist.clients, data.clients.length); pushHist(serverHist.links, data.links); pushHist(serverHist.traffic, traffic);
  drawSpark(document.getElementById('server-clients'), serverHist.clients);
  drawSpark(document.getElementById('server-links'), serverHist.links);
  drawSpark(document.getElementById('server-traffic'), serverHist.traffic);
  li(document.getElementById('clients'), data.clients.map((c) => c.id + (c.online ? '' : c.ingest ? ' [ingest]' : ' [sending]') + (c.groups.length ? ' (' + c.groups.join(', ') + ')' : '')), 'none');
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
      // JPEG as MJPEG in an <img>; compressed video (a codec string) decoded by WebCodecs on a canvas.
      let img;
      if (s.imageType === 'jpeg') {
        img = document.createElement('img');
        img.alt = 'video from ' + key;
        img.src = '/mjpeg/' + encodeURIComponent(s.client) + '/' + s.mediaIndex;
      } else {
        img = document.createElement('canvas');
        img.className = 'video';
        img.setAttribute('aria-label', 'video from ' + key);
      }
      const cap = document.createElement('figcaption');
      const spark = document.createElement('div');
      spark.className = 'spark';
      const graphs = {};
      for (const name of ['fps', 'bitrate', 'latency']) {
        const l = document.createElement('label'); l.textContent = name;
        const c = document.createElement('canvas'); c.width = 120; c.height = 24; c.dataset.metric = name;
        l.append(c); spark.append(l); graphs[name] = c;
      }
      const tools = document.createElement('div');
      tools.className = 'tools';
      const snap = document.createElement('a');
      snap.className = 'snapshot'; snap.textContent = 'snapshot';
      snap.href = '/snapshot/' + encodeURIComponent(s.client) + '/' + s.mediaIndex + '.jpg';
      snap.download = s.client + '-' + s.mediaIndex + '.jpg';
      const full = document.createElement('button');
      full.type = 'button'; full.className = 'fullscreen'; full.textContent = 'fullscreen';
      full.addEventListener('click', () => { (document.fullscreenElement ? document.exitFullscreen() : fig.requestFullscreen()).catch(() => {}); });
      tools.append(snap, full);
      fig.append(img, cap, spark, tools);
      t = { fig, cap, graphs, hist: { fps: [], bitrate: [], latency: [] } };
      if (s.imageType !== 'jpeg') decodeTile(t, s, img);
      shown.set(key, t);
      if (shown.size === 1) tiles.replaceChildren();
      tiles.append(fig);
    }
    t.cap.innerHTML = '';
    if (t.painter) {
      // A decoded tile: the browser's own figures, latency to the painted frame.
      const now = performance.now(); const secs = (now - t.since) / 1000;
      s.fps = Math.round(((t.painter.stats.decoded - t.lastDecoded) / secs) * 10) / 10; s.bitrate = Math.round((t.bytes * 8) / secs);
      s.latency = t.painter.stats.decoded ? t.painter.stats.latency : null;
      t.since = now; t.lastDecoded = t.painter.stats.decoded; t.bytes = 0;
    }
    const parts = [['', s.client + (s.mediaIndex ? ' #' + s.mediaIndex : '')], ['', s.width + '×' + s.height + ' ' + s.imageType], ['fps ', s.fps], ['', fmtRate(s.bitrate)], ['latency ', s.latency === null ? '—' : s.latency + ' ms' + (t.painter ? ' decoded' : '')]];
    for (const [label, value] of parts) { const sp = document.createElement('span'); sp.innerHTML = label + '<b></b>'; sp.lastChild.textContent = value; t.cap.append(sp); }
    pushHist(t.hist.fps, s.fps); pushHist(t.hist.bitrate, s.bitrate); pushHist(t.hist.latency, s.latency);
    for (const name of ['fps', 'bitrate', 'latency']) drawSpark(t.graphs[name], t.hist[name]);
  }
  for (const [key, t] of shown) if (!keys.has(key)) { t.fig.remove(); shown.delete(key); if (t.ctl) { t.ctl.abort(); t.painter.close(); } }
}
// A compressed source's tile: its frames from /stream/<client>/<index> (from the server's cached
// keyframe on), decoded and painted; a note says plainly when this browser cannot show them.
async function decodeTile(t, s, canvas) {
  const { VideoPainter, streamVideo } = await import('/camwire.js');
  const note = document.createElement('p');
  note.className = 'note';
  note.textContent = typeof VideoDecoder === 'undefined' ? 'This browser has no WebCodecs (VideoDecoder), so it cannot show ' + s.imageType + ' video. Use a current Chrome, Edge or Chromium, on https or localhost.' : 'waiting for a keyframe…';
  canvas.after(note);
  t.bytes = 0; t.lastDecoded = 0; t.since = performance.now(); t.ctl = new AbortController();
  // data-first-picture-ms: from asking for the stream to the first painted picture (the GOP cache makes it short).
  let asked = performance.now();
  t.painter = new VideoPainter(canvas, (text) => { note.textContent = text; note.hidden = !text; }, (st) => {
    if (!t.fig.dataset.firstPictureMs) t.fig.dataset.firstPictureMs = Math.round(performance.now() - asked);
    t.fig.dataset.decoded = st.decoded; t.fig.dataset.latency = st.latency;
  });
  const url = '/stream/' + encodeURIComponent(s.client) + '/' + s.mediaIndex;
  while (!t.ctl.signal.aborted) {
    asked = performance.now();
    try {
      await streamVideo(url, (v) => { t.bytes += v.bytes; t.painter.push(v); t.fig.dataset.corrupt = t.painter.stats.corrupt; }, t.ctl.signal);
    } catch (err) { if (t.ctl.signal.aborted) return; note.hidden = false; note.textContent = 'stream interrupted (' + err.message + '), reconnecting…'; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
function fillTargets(ids) {
  const sel = document.getElementById('cmd-to');
  const cur = sel.value;
  if ([...sel.options].map((o) => o.value).join() === ids.join()) return;
  sel.replaceChildren(...ids.map((id) => { const o = document.createElement('option'); o.value = o.textContent = id; return o; }));
  if (ids.includes(cur)) sel.value = cur;
}
let me = null;
let VideoPainterClass = null;
let VideoCanvasClass = null;
const mine = new Map();
document.getElementById('me-id').value = 'web-' + Math.random().toString(36).slice(2, 7);
function log(text) {
  const li = document.createElement('li');
  li.textContent = new Date().toLocaleTimeString() + ' ' + text;
  const ul = document.getElementById('me-log');
  ul.prepend(li);
  while (ul.children.length > 50) ul.lastChild.remove();
}
function tileFor(key) {
  let t = mine.get(key);
  if (t) return t;
  const fig = document.createElement('figure');
  fig.dataset.mine = key;
  const canvas = document.createElement('canvas');
  const cap = document.createElement('figcaption');
  fig.append(canvas, cap);
  document.getElementById('me-tiles').append(fig);
  const note = document.createElement('p');
  note.className = 'note'; note.hidden = true;
  canvas.after(note);
  t = { canvas, cap, frames: 0, bytes: 0, latency: 0, since: performance.now(), drawer: null, images: false, painter: new VideoPainterClass(canvas, (text) => { note.textContent = text; note.hidden = !text; }, (st) => { fig.dataset.decoded = st.decoded; }) };
  mine.set(key, t);
  return t;
}
setInterval(() => {
  for (const [key, t] of mine) {
    const secs = (performance.now() - t.since) / 1000;
    const what = t.images ? 'images' : t.painter.stats.codec;
    const latency = t.images ? Math.round(t.latency) + ' ms' : Math.round(t.painter.stats.latency) + ' ms decoded';
    t.cap.textContent = key + ' | ' + what + ' | fps ' + (t.frames / secs).toFixed(1) + ' | ' + fmtRate((t.bytes * 8) / secs) + ' | latency ' + latency;
    t.frames = 0; t.bytes = 0; t.since = performance.now();
  }
}, 1000);
document.getElementById('join').addEventListener('submit', async (e) => {
  e.preventDefault();
  const state = document.getElementById('me-state');
  if (me) { me.close(); me = null; state.textContent = 'not connected'; document.getElementById('me-connect').textContent = 'Connect'; return; }
  const { CamwireClient, VideoPainter, VideoCanvas } = await import('/camwire.js');
  VideoPainterClass = VideoPainter;
  VideoCanvasClass = VideoCanvas;
  const id = document.getElementById('me-id').value.trim();
  const group = document.getElementById('me-group').value.trim();
  const user = document.getElementById('me-user').value.trim();
  const client = new CamwireClient((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/camwire/v1/ws', id, user ? { auth: { user, password: document.getElementById('me-password').value } } : {});
  client.addEventListener('video', (ev) => {
    const v = ev.detail;
    const t = tileFor(v.from + '/' + v.mediaIndex);
    t.frames++; t.bytes += v.bytes; t.latency = Date.now() - v.timestamp;
    if (v.imageType === 'jpeg' || v.imageType === 'png') {
      // Images, whole or change-detection rectangles alike: the canvas composes them.
      t.images = true;
      t.drawer ||= new VideoCanvasClass(t.canvas, { needFullFrame: (f) => client.requestFullFrame(f.from, f.mediaIndex) });
      if (v.rect) t.rects = true;
      // Latest wins for a source of whole frames: skip while two wait (rectangles need every frame).
      if (!t.rects && t.drawer.pending > 1) return;
      void t.drawer.draw(v);
    } else {
      // Compressed video through WebCodecs; latest wins.
      t.images = false;
      t.painter.push(v);
    }
  });
  // Audio: PCM s16le chunks scheduled back to back on Web Audio, a little ahead to absorb jitter.
  let audioCtx = null; let playhead = 0; let chunks = 0; let decoded = 0; let opus = null;
  try { audioCtx = new AudioContext(); } catch { audioCtx = null; }
  client.addEventListener('audio', (ev) => {
    const a = ev.detail;
    chunks++;
    document.getElementById('me-audio').textContent = 'audio: ' + chunks + ' chunks, ' + a.codec + ' ' + a.sampleRate + ' Hz, ' + decoded + ' played';
    if (!audioCtx || !a.channels) return;
    if (a.codec === 'opus') {
      // Opus packets go through WebCodecs; decoded audio is scheduled like PCM.
      if (typeof AudioDecoder === 'undefined') return;
      if (!opus) {
        opus = new AudioDecoder({
          output: (d) => {
            const buf = audioCtx.createBuffer(d.numberOfChannels, d.numberOfFrames, d.sampleRate);
            for (let ch = 0; ch < d.numberOfChannels; ch++) d.copyTo(buf.getChannelData(ch), { planeIndex: ch, format: 'f32-planar' });
            d.close();
            decoded++;
            play(buf);
          },
          error: () => { opus = null; },
        });
        opus.configure({ codec: 'opus', sampleRate: 48000, numberOfChannels: a.channels });
      }
      opus.decode(new EncodedAudioChunk({ type: 'key', timestamp: Math.round(a.timestamp * 1000), data: a.data }));
      return;
    }
    if (a.codec !== 'pcm_s16le') return;
    const frames = Math.floor(a.data.length / 2 / a.channels);
    const buf = audioCtx.createBuffer(a.channels, frames, a.sampleRate);
    const view = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    for (let ch = 0; ch < a.channels; ch++) {
      const out = buf.getChannelData(ch);
      for (let i = 0; i < frames; i++) out[i] = view.getInt16((i * a.channels + ch) * 2, true) / 32768;
    }
    decoded++;
    play(buf);
  });
  function play(buf) {
    const src = audioCtx.createBufferSource();
    src.buffer = buf;
    src.connect(audioCtx.destination);
    const now = audioCtx.currentTime;
    if (playhead < now + 0.02 || playhead > now + 0.5) playhead = now + 0.08;
    src.start(playhead);
    playhead += buf.duration;
  }
  client.addEventListener('command', (ev) => log('command ' + ev.detail.name + ' ' + JSON.stringify(ev.detail.params) + ' from ' + ev.detail.from));
  client.addEventListener('notice', (ev) => log(ev.detail.name.replace('RV_', '').toLowerCase() + ' ' + JSON.stringify(ev.detail.params)));
  client.addEventListener('close', (ev) => { state.textContent = 'disconnected: ' + ev.detail.reason; });
  state.textContent = 'connecting…';
  try {
    await client.connect(['video', 'audio', 'command']);
    if (group) await client.joinGroup(group);
    me = client;
    state.textContent = 'connected as ' + id + (group ? ' in ' + group : '');
    document.getElementById('me-connect').textContent = 'Disconnect';
    document.getElementById('me-camera').disabled = !navigator.mediaDevices;
  } catch (err) { state.textContent = 'refused: ' + err.message; client.close(); }
});
document.getElementById('me-camera').addEventListener('click', async () => {
  if (!me) return;
  const group = document.getElementById('me-group').value.trim();
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  const video = document.createElement('video');
  video.srcObject = stream; video.muted = true; await video.play();
  const canvas = document.createElement('canvas');
  setInterval(() => {
    if (!me || !video.videoWidth) return;
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    canvas.toBlob(async (blob) => {
      if (blob && me) await me.sendVideoFrame(new Uint8Array(await blob.arrayBuffer()), canvas.width, canvas.height, { group });
    }, 'image/jpeg', 0.7);
  }, 100);
  document.getElementById('me-camera').disabled = true;
  log('sending the camera' + (group ? ' to ' + group : ''));
});
document.getElementById('file-input').addEventListener('change', async (e) => {
  const out = document.getElementById('file-result');
  const file = e.target.files[0];
  if (!file) return;
  if (!me) { out.textContent = 'connect as a client first (Be a client)'; return; }
  try {
    const r = await me.sendFile(file, { to: document.getElementById('cmd-to').value, onProgress: (done, size) => { out.textContent = 'sent ' + Math.round((100 * done) / size) + '%'; } });
    out.textContent = file.name + ': ' + r.size + ' bytes, sha256 ' + r.sha256.slice(0, 16) + '… verified';
  } catch (err) { out.textContent = 'refused: ' + err.message; }
});
document.getElementById('cmd').addEventListener('submit', async (e) => {
  e.preventDefault();
  const out = document.getElementById('cmd-result');
  const params = {};
  for (const line of document.getElementById('cmd-params').value.split('\\n')) {
    const i = line.indexOf('=');
    if (i > 0) { const v = line.slice(i + 1).trim(); params[line.slice(0, i).trim()] = /^-?\\d+(\\.\\d+)?$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v; }
  }
  out.textContent = 'sending…';
  if (me) {
    try {
      await me.sendCommand(document.getElementById('cmd-name').value, params, { to: document.getElementById('cmd-to').value });
      out.textContent = 'acknowledged';
    } catch (err) { out.textContent = 'refused: ' + err.message; }
    return;
  }
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
