// Heimdall dashboard: reads /ui/api/state once and /ui/api/stream (server-
// sent events read with fetch, so the X-API-KEY header can be sent).
import { Chart, CLASSES } from './chart.js';

const $ = (id) => document.getElementById(id);
const KEY = 'heimdall.adminKey';
const MAX_LOG = 1000; // the gateway keeps as many

function headers() {
  const k = sessionStorage.getItem(KEY);
  return k ? { 'X-API-KEY': k } : {};
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function table(t, cols, rows) {
  t.replaceChildren();
  const h = t.insertRow();
  for (const c of cols) h.append(el('th', c));
  for (const r of rows) {
    const tr = t.insertRow();
    for (const v of r) {
      const td = tr.insertCell();
      if (Array.isArray(v)) v.forEach((x) => td.append(el('span', x, 'tag')));
      else td.textContent = v;
    }
  }
}

function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

async function loadState() {
  const r = await fetch('api/state', { headers: headers() });
  if (r.status === 401) { showLogin(); return null; }
  if (!r.ok) throw new Error(`state: ${r.status}`);
  const s = await r.json();
  table($('routes'), ['ID', 'URI', 'Methods', 'Upstream', 'Plugins'],
    s.routes.map((r) => [r.id + (r.enabled ? '' : ' (disabled)'), r.uris.join(' '),
      (r.methods || []).join(' ') || 'any', r.upstream, r.plugins]));
  table($('upstreams'), ['ID', 'Type', 'Nodes'], s.upstreams.map((u) => [u.id, u.type, u.nodes]));
  table($('plugins'), ['Plugin', 'Priority', 'Instances busy / idle / slots', 'Memory per instance', 'Refused calls', 'Routes'],
    s.plugins.map((p) => [p.name, String(p.priority), `${p.busy} / ${p.idle} / ${p.slots}`,
      p.memory.map(bytes).join(', ') || '–', String(p.refused), p.routes]));
  const sel = $('f-plugin');
  for (const p of s.plugins) {
    if (![...sel.options].some((o) => o.value === p.name)) sel.append(new Option(p.name, p.name));
  }
  return s;
}

// Log view, filterable by plugin and by text (route id, path or message).
const logLines = [];
function logMatches(l) {
  const p = $('f-plugin').value;
  const q = $('f-text').value.toLowerCase();
  if (p && l.plugin !== p) return false;
  return !q || l.text.toLowerCase().includes(q);
}
function logRow(l) {
  const d = el('div', undefined, l.level);
  d.title = l.text;
  d.append(el('span', new Date(l.time).toLocaleTimeString([], { hour12: false }) + ' ', 't'),
    el('span', `[${l.plugin}] `, 'p'), l.text.replace(/\s*\n\s*/g, ' '));
  return d;
}
function addLog(l) {
  const attrs = Object.entries(l.attrs || {}).map(([k, v]) => `${k}=${v}`).join(' ');
  l.text = [l.route ? `route=${l.route}` : '', l.msg, attrs].filter(Boolean).join('  ');
  logLines.push(l);
  if (logLines.length > MAX_LOG) logLines.shift();
  if (!logMatches(l)) return;
  const box = $('log');
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.append(logRow(l));
  while (box.childElementCount > MAX_LOG) box.firstChild.remove();
  if (atEnd) box.scrollTop = box.scrollHeight;
}
function redrawLog() {
  const box = $('log');
  box.replaceChildren(...logLines.filter(logMatches).map(logRow));
  box.scrollTop = box.scrollHeight;
}

// Traffic: the stream sends totals; rates come from consecutive samples.
const chart = new Chart($('chart'), 300);
let last = null;
function onTraffic(s) {
  $('requests').textContent = s.requests.toLocaleString();
  $('errors').textContent = s.by_class[5].toLocaleString();
  $('egress').textContent = bytes(s.egress);
  if (last) {
    const dt = Math.max((s.t - last.t) / 1000, 0.001);
    const rates = s.by_class.map((v, i) => Math.max(v - last.by_class[i], 0) / dt);
    $('rps').textContent = ((s.requests - last.requests) / dt).toFixed(1);
    chart.push(s.t, rates);
  }
  last = s;
}

// parseSSE yields {event, data} from a fetch body.
async function* parseSSE(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      yield { event, data };
    }
  }
}

async function stream() {
  for (;;) {
    try {
      const r = await fetch('api/stream', { headers: headers() });
      if (r.status === 401) { showLogin(); return; }
      if (!r.ok) throw new Error(`stream: ${r.status}`);
      setConn(true);
      for await (const m of parseSSE(r.body)) {
        if (m.event === 'traffic') onTraffic(JSON.parse(m.data));
        else if (m.event === 'log') addLog(JSON.parse(m.data));
      }
    } catch (e) {
      console.warn(e);
    }
    setConn(false);
    last = null;
    logLines.length = 0;
    $('log').replaceChildren();
    await new Promise((ok) => setTimeout(ok, 2000));
  }
}

function setConn(on) {
  $('conn').textContent = on ? 'live' : 'disconnected';
  $('conn').className = 'pill ' + (on ? 'on' : 'off');
}

function showLogin() {
  $('main').hidden = true;
  $('login').hidden = false;
  $('key').focus();
}

async function start() {
  const s = await loadState();
  if (!s) return;
  $('login').hidden = true;
  $('main').hidden = false;
  $('legend').replaceChildren(...CLASSES.map((c) => {
    const span = el('span', c.name);
    const i = el('i');
    i.style.background = c.color;
    span.prepend(i);
    return span;
  }));
  setInterval(() => loadState().catch(console.warn), 5000);
  stream();
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('key').value);
  $('key').value = '';
  start().catch(console.error);
});
$('f-plugin').addEventListener('change', redrawLog);
$('f-text').addEventListener('input', redrawLog);
start().catch(console.error);
