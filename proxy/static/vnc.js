// The VNC console page: noVNC (npm @novnc/novnc, served by the proxy under `novnc/`) speaking
// RFB to the VM's VNC server through one WebSocket at the relative path `ws` (so any path prefix
// works). The proxy relays RFB bytes unchanged as binary frames; its JSON text frames ('ready',
// 'reconnect' with a fresh single-use token) are taken out here before noVNC sees the stream.
import RFB from './novnc/core/rfb.js';

const params = new URLSearchParams(location.search);
let token = params.get('token') || '';
// The token leaves the address bar at once: it is single-use, and a reload must not look like a
// second use of a leaked URL.
history.replaceState(null, '', location.pathname);
const status = document.getElementById('status');
const again = document.getElementById('reconnect');
const screen = document.getElementById('screen');
const view = document.getElementById('view');
const keys = document.getElementById('keys');
let ws;
let rfb;
let nextToken = '';
let closedWhy = '';

function show(text, up) {
  status.textContent = text;
  status.className = up ? 'up' : 'down';
}

/** A channel noVNC accepts (the properties of a WebSocket it checks) that passes binary frames
 *  only: the proxy's control messages are the page's, not RFB. */
class RfbChannel {
  constructor(sock) {
    this.sock = sock;
    this.binaryType = 'arraybuffer';
    this.protocol = '';
    this.onopen = null; this.onmessage = null; this.onerror = null; this.onclose = null;
    sock.binaryType = 'arraybuffer';
    sock.addEventListener('open', (e) => this.onopen && this.onopen(e));
    sock.addEventListener('error', (e) => this.onerror && this.onerror(e));
    sock.addEventListener('close', (e) => this.onclose && this.onclose(e));
    sock.addEventListener('message', (e) => {
      if (typeof e.data === 'string') return control(JSON.parse(e.data));
      if (this.onmessage) this.onmessage(e);
    });
  }
  get readyState() { return this.sock.readyState; }
  send(data) { this.sock.send(data); }
  close() { this.sock.close(); }
}

function control(m) {
  if (m.type === 'ready') { show('connected to ' + m.vm, true); document.getElementById('title').textContent = 'Console of ' + m.vm; }
  if (m.type === 'reconnect') nextToken = m.token;
}

function applyView() {
  if (!rfb) return;
  // scale: the remote screen shrinks or grows to the window; remote: the VNC server is asked to
  // change its screen size to the window's (servers that cannot keep their size); none: 1:1,
  // scrolled by the page.
  rfb.scaleViewport = view.value === 'scale';
  rfb.resizeSession = view.value === 'remote';
  rfb.clipViewport = false;
}

function connect() {
  again.hidden = true;
  closedWhy = '';
  show('connecting…', false);
  const url = new URL('ws?token=' + encodeURIComponent(token), location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(url);
  ws.addEventListener('close', (ev) => { closedWhy = ev.reason || closedWhy; });
  screen.textContent = '';
  rfb = new RFB(screen, new RfbChannel(ws), { shared: true });
  // Keyboard layout: noVNC sends each key as the keysym of the character the browser's layout
  // produced ('chars': the local layout decides, what most users expect); servers that support
  // QEMU's extended key event also get the physical key's scancode, which then wins and the
  // guest's own layout decides ('physical'). 'chars' withholds the scancode.
  const sendKey = rfb.sendKey.bind(rfb);
  rfb.sendKey = (keysym, code, down) => sendKey(keysym, keys.value === 'physical' ? code : null, down);
  applyView();
  rfb.addEventListener('connect', () => { rfb.focus(); });
  rfb.addEventListener('credentialsrequired', () => { closedWhy = 'the VNC server asks for a password'; rfb.disconnect(); });
  rfb.addEventListener('securityfailure', (e) => { closedWhy = 'VNC security failure: ' + (e.detail.reason || e.detail.status); });
  rfb.addEventListener('disconnect', () => {
    // The proxy's close reason (token refused, console unreachable) arrives on the socket's close.
    setTimeout(() => {
      const why = closedWhy || 'connection lost';
      token = nextToken;
      nextToken = '';
      show('disconnected — ' + why, false);
      again.hidden = !token;
      if (token) again.textContent = 'Reconnect';
    }, 0);
  });
  window.flotillaRfb = rfb;
}

/** Types text into the remote as key presses (a console without a clipboard agent — a login
 *  prompt, a BIOS — gets it too) and offers it as the remote clipboard. */
function typeText(text) {
  if (!rfb) return;
  rfb.clipboardPasteFrom(text);
  for (const ch of text.replace(/\r\n?/g, '\n')) {
    const cp = ch.codePointAt(0);
    // X11 keysyms: Latin-1 is its code point, other Unicode 0x01000000 + code point.
    const keysym = ch === '\n' ? 0xff0d : ch === '\t' ? 0xff09 : cp < 0x100 ? cp : 0x01000000 + cp;
    rfb.sendKey(keysym, null);
  }
}

// Drops the socket as a network failure would (tests and the reconnect path use it).
window.flotillaDrop = () => { if (ws) ws.close(); };
window.flotillaType = typeText;
view.addEventListener('change', applyView);
again.addEventListener('click', connect);
document.getElementById('cad').addEventListener('click', () => { if (rfb) { rfb.sendCtrlAltDel(); rfb.focus(); } });
document.getElementById('paste').addEventListener('click', async () => {
  try { const text = await navigator.clipboard.readText(); if (text) typeText(text); } catch (e) { show('paste refused by the browser: ' + e.message, ws && ws.readyState === WebSocket.OPEN); }
  if (rfb) rfb.focus();
});
// A paste event (the browser's own Paste menu, or Ctrl+V outside the screen) types the text too.
document.addEventListener('paste', (e) => {
  const text = e.clipboardData && e.clipboardData.getData('text/plain');
  if (text) { e.preventDefault(); typeText(text); }
});
if (!token) show('disconnected — no token in the address', false);
else connect();
