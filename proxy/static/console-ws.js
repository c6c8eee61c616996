// Opens the console's WebSocket as soon as the page starts, before xterm.js (~300 kB) has loaded
// and run: the proxy's checks and the agent's attach (100–350 ms) then overlap the script's load
// instead of following it (docs/decisions/0920). console.js takes the socket over, with every
// frame (and a refusal's close) that arrived meanwhile.
(function () {
  'use strict';
  const token = new URLSearchParams(location.search).get('token') || '';
  // The token leaves the address bar at once: it is single-use, and a reload must not look like a
  // second use of a leaked URL.
  history.replaceState(null, '', location.pathname);
  const early = { token, ws: undefined, frames: [], closed: undefined };
  window.flotillaEarly = early;
  if (!token) return;
  const url = new URL('ws?token=' + encodeURIComponent(token), location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  performance.mark('console-ws');
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => performance.mark('console-open');
  ws.onmessage = (ev) => early.frames.push(ev);
  ws.onclose = (ev) => { early.closed = ev; };
  early.ws = ws;
})();
