// The console page: an xterm.js terminal relayed to the VM's serial console over one
// WebSocket at the relative path `ws` (so any path prefix works). Keystrokes and pastes go as
// binary frames; the proxy's JSON text frames carry a fresh single-use token for reconnecting.
(function () {
  'use strict';
  const params = new URLSearchParams(location.search);
  let token = params.get('token') || '';
  // The token leaves the address bar at once: it is single-use, and a reload must not look
  // like a second use of a leaked URL.
  history.replaceState(null, '', location.pathname);
  const status = document.getElementById('status');
  const again = document.getElementById('reconnect');
  const term = new Terminal({ screenReaderMode: true, cursorBlink: true, convertEol: false, scrollback: 5000, fontSize: 15 });
  term.open(document.getElementById('terminal'));
  window.flotillaTerm = term;
  const enc = new TextEncoder();
  let ws;
  let nextToken = '';

  function show(text, up) {
    status.textContent = text;
    status.className = up ? 'up' : 'down';
  }

  function send(text) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(text)); }

  function connect() {
    again.hidden = true;
    show('connecting…', false);
    const url = new URL('ws?token=' + encodeURIComponent(token), location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        const m = JSON.parse(ev.data);
        if (m.type === 'ready') { show('connected to ' + m.vm, true); document.getElementById('title').textContent = 'Console of ' + m.vm; term.focus(); send('\r'); }
        if (m.type === 'reconnect') nextToken = m.token;
        return;
      }
      term.write(new Uint8Array(ev.data));
    };
    ws.onclose = (ev) => {
      const why = ev.reason || 'connection lost';
      token = nextToken;
      nextToken = '';
      show('disconnected — ' + why, false);
      again.hidden = !token;
      if (token) again.textContent = 'Reconnect';
    };
  }

  // Drops the socket as a network failure would (tests and the reconnect path use it).
  window.flotillaDrop = () => { if (ws) ws.close(); };
  term.onData(send);
  again.addEventListener('click', connect);
  // Paste: the terminal's own paste (Ctrl+Shift+V / middle click / context menu) goes through
  // onData already; the button reads the clipboard where the browser allows it.
  document.getElementById('paste').addEventListener('click', async () => {
    try { const text = await navigator.clipboard.readText(); if (text) term.paste(text); } catch (e) { show('paste refused by the browser: ' + e.message, ws && ws.readyState === WebSocket.OPEN); }
    term.focus();
  });
  if (!token) { show('disconnected — no token in the address', false); return; }
  connect();
})();
