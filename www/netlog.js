// Records every network request this page makes, for the privacy panel: resource timing
// (URL, bytes received, initiator) plus wrappers on fetch, XMLHttpRequest, sendBeacon and
// WebSocket (method and request-body bytes, which resource timing does not give). Loaded
// before app.js so that no request escapes it. A worker's requests are added by app.js.

const rows = [];
const listeners = new Set();

export const requests = () => rows;
export const onRequest = (fn) => listeners.add(fn);

export function record(row) {
  const full = { method: 'GET', sent: 0, received: null, ...row, n: rows.length + 1, at: performance.now() };
  rows.push(full);
  for (const fn of listeners) fn(full, rows);
  return full;
}

// A wrapper's row waits for the resource-timing entry of the same URL to learn its size.
const awaitingSize = [];
const seen = new Set(); // Chromium may deliver the navigation entry twice
function sized(entry) {
  const key = `${entry.entryType} ${entry.name} ${entry.startTime}`;
  if (seen.has(key)) return;
  seen.add(key);
  const bytes = entry.transferSize || entry.encodedBodySize || 0;
  const i = awaitingSize.findIndex((r) => r.url === entry.name);
  if (i < 0) return record({ url: entry.name, initiator: entry.initiatorType, received: bytes });
  const [row] = awaitingSize.splice(i, 1);
  row.received = bytes;
  for (const fn of listeners) fn(row, rows);
}

function bodyBytes(body) {
  if (body == null) return 0;
  if (typeof body === 'string') return new TextEncoder().encode(body).length;
  if (body instanceof Blob) return body.size;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  if (body instanceof URLSearchParams) return new TextEncoder().encode(body.toString()).length;
  return NaN; // FormData, streams: size unknown, shown as "?" and never counted as nothing
}

function wrapped(url, method, body, initiator) {
  const row = record({ url: new URL(String(url), location.href).href, method: method.toUpperCase(), sent: bodyBytes(body), initiator });
  awaitingSize.push(row);
  return row;
}

const realFetch = window.fetch.bind(window);
window.fetch = (input, init = {}) => {
  const req = input instanceof Request ? input : null;
  wrapped(req ? req.url : input, init.method ?? req?.method ?? 'GET', init.body, 'fetch');
  return realFetch(input, init);
};

const { open, send } = XMLHttpRequest.prototype;
XMLHttpRequest.prototype.open = function (method, url, ...rest) {
  this._netlog = { method, url };
  return open.call(this, method, url, ...rest);
};
XMLHttpRequest.prototype.send = function (body) {
  if (this._netlog) wrapped(this._netlog.url, this._netlog.method, body, 'xmlhttprequest');
  return send.call(this, body);
};

if (navigator.sendBeacon) {
  const beacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => {
    wrapped(url, 'POST', data, 'beacon');
    return beacon(url, data);
  };
}

const RealWebSocket = window.WebSocket;
window.WebSocket = class extends RealWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    this._netlog = record({ url: String(url), method: 'WEBSOCKET', initiator: 'websocket' });
  }
  send(data) {
    this._netlog.sent += bodyBytes(data);
    return super.send(data);
  }
};

const observe = (type) =>
  new PerformanceObserver((list) => list.getEntries().forEach(sized)).observe({ type, buffered: true });
observe('navigation');
observe('resource');
