// The console page: an xterm.js terminal relayed to the VM's serial console over one
// WebSocket at the relative path `ws` (so any path prefix works). Keystrokes and pastes go as
// binary frames; the proxy's JSON text frames carry a fresh single-use token for reconnecting.
(function () {
  'use strict';
  // console-ws.js (loaded before xterm.js) took the token out of the address bar and already
  // opened the socket; the first connect() adopts it.
  const early = window.flotillaEarly || { token: '', frames: [] };
  let token = early.token;
  const status = document.getElementById('status');
  const again = document.getElementById('reconnect');
  const term = new Terminal({ screenReaderMode: true, cursorBlink: true, convertEol: false, scrollback: 5000, fontSize: 15 });
  term.open(document.getElementById('terminal'));
  window.flotillaTerm = term;
  // Resize: the terminal follows the window (xterm's fit addon). A serial line has no way to tell
  // the guest its size (no SIGWINCH over a UART): `stty rows R cols C` in the guest, as on a
  // physical serial console; the page shows the size to use in its title.
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  const refit = () => { try { fit.fit(); } catch { /* not laid out yet */ } document.getElementById('terminal').title = `${term.cols}×${term.rows} (stty cols ${term.cols} rows ${term.rows})`; };
  refit();
  window.addEventListener('resize', refit);
  // Keys: the browser's layout makes the characters (xterm sends what it typed, UTF-8), so any
  // layout works with no table here (CloudStack's keymap complaints come from scancode clients).
  // Two choices a serial guest may need: Backspace as ^H (guests whose erase is ^H) and Alt/Option
  // as Meta (ESC prefix, for Emacs and readline; on macOS Option otherwise types characters).
  const keys = document.getElementById('keys');
  const saved = (() => { try { return localStorage.getItem('flotilla.console.keys'); } catch { return null; } })();
  if (saved && [...keys.options].some((o) => o.value === saved)) keys.value = saved;
  const applyKeys = () => {
    term.options.macOptionIsMeta = keys.value === 'meta';
    try { localStorage.setItem('flotilla.console.keys', keys.value); } catch { /* storage off */ }
  };
  applyKeys();
  keys.addEventListener('change', () => { applyKeys(); term.focus(); });
  term.attachCustomKeyEventHandler((ev) => {
    if (keys.value === 'ctrlh' && ev.key === 'Backspace' && !ev.ctrlKey && !ev.altKey && !ev.metaKey) {
      if (ev.type === 'keydown') send('\x08');
      return false;
    }
    return true;
  });
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
    // Performance marks (console-ws, -open, -ready, -first-byte): where the opening time goes,
    // for bench:console and anyone's devtools.
    let adopted;
    if (early.ws) {
      // The socket console-ws.js opened, once.
      ws = early.ws;
      early.ws = undefined;
      adopted = early;
    } else {
      const url = new URL('ws?token=' + encodeURIComponent(token), location.href);
      url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
      performance.mark('console-ws');
      ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => performance.mark('console-open');
    }
    let first = true;
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        const m = JSON.parse(ev.data);
        if (m.type === 'ready') { performance.mark('console-ready'); show('connected to ' + m.vm, true); document.getElementById('title').textContent = 'Console of ' + m.vm; term.focus(); send('\r'); }
        if (m.type === 'reconnect') nextToken = m.token;
        return;
      }
      if (first) { first = false; performance.mark('console-first-byte'); }
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
    if (adopted) {
      // What arrived before the terminal existed, in order; then a close, if there was one.
      for (const ev of adopted.frames.splice(0)) ws.onmessage(ev);
      if (adopted.closed) ws.onclose(adopted.closed);
    }
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
