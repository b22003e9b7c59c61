// Browser fakes for static/js/stream.js, installed on globalThis by install().
// They follow the specs where the client depends on them: EventSource dispatches a named
// event only to listeners of that name and keeps lastEventId across frames without `id:`;
// BroadcastChannel delivers asynchronously to every *other* instance of the same name;
// navigator.locks grants one holder per name, in request order, until its promise settles.

export class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static instances = [];

  constructor(url, init) {
    this.url = url;
    this.init = init;
    this.readyState = 0;
    this.lastEventId = '';
    this.listeners = {};
    this.onopen = this.onerror = this.onmessage = null;
    FakeEventSource.instances.push(this);
  }

  static get latest() {
    return FakeEventSource.instances.at(-1);
  }

  get params() {
    return new URL(this.url, 'http://hub.test').searchParams;
  }

  addEventListener(type, fn) {
    (this.listeners[type] ||= []).push(fn);
  }

  close() {
    this.readyState = 2;
  }

  open() {
    this.readyState = 1;
    this.onopen?.({ type: 'open' });
  }

  // closed=true: a failure the browser gives up on (e.g. HTTP 403); false: it would retry itself.
  fail({ closed = true } = {}) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.({ type: 'error' });
  }

  emit(type, payload, id) {
    if (this.readyState === 2) throw new Error(`emit on a closed EventSource (${this.url})`);
    if (id !== undefined && id !== null) this.lastEventId = String(id);
    const ev = { type, data: JSON.stringify(payload), lastEventId: this.lastEventId };
    for (const fn of this.listeners[type] || []) fn(ev);
    if (type === 'message') this.onmessage?.(ev);
  }

  // An outbox event exactly as realtime/sse.py frames it: id, event: <type>, envelope.
  event(id, type = 'progression.progress.updated', topic = 'progression') {
    const envelope = envelopeOf(id, type, topic);
    this.emit(type, envelope, id);
    return envelope;
  }

  control(type, data = {}, id) {
    this.emit(type, { type, data }, id);
  }
}

export function envelopeOf(id, type = 'progression.progress.updated', topic = 'progression') {
  return {
    id,
    type,
    topic,
    community: 'club',
    occurred_at: '2025-01-01T00:00:00Z',
    data: { percent: id },
  };
}

export class FakeStorage {
  constructor(entries = {}) {
    this.map = new Map(Object.entries(entries));
  }
  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }
  setItem(key, value) {
    this.map.set(key, String(value));
  }
  removeItem(key) {
    this.map.delete(key);
  }
}

export class FakeBroadcastChannel {
  static open = new Set();

  constructor(name) {
    this.name = name;
    this.onmessage = null;
    this.sent = [];
    FakeBroadcastChannel.open.add(this);
  }

  postMessage(message) {
    if (!FakeBroadcastChannel.open.has(this)) throw new Error('postMessage on a closed channel');
    const data = structuredClone(message);
    this.sent.push(data);
    for (const other of FakeBroadcastChannel.open) {
      if (other !== this && other.name === this.name) {
        queueMicrotask(() => FakeBroadcastChannel.open.has(other) && other.onmessage?.({ data }));
      }
    }
  }

  close() {
    FakeBroadcastChannel.open.delete(this);
  }
}

export class FakeLocks {
  constructor() {
    this.held = new Map();
    this.waiting = new Map();
  }

  request(name, options, callback) {
    if (typeof options === 'function') [callback, options] = [options, {}];
    return new Promise((resolve, reject) => {
      const entry = { callback, resolve, reject };
      const queue = this.waiting.get(name) || [];
      this.waiting.set(name, queue);
      queue.push(entry);
      options.signal?.addEventListener('abort', () => {
        const at = queue.indexOf(entry);
        if (at >= 0) {
          queue.splice(at, 1);
          reject(new DOMException('The request was aborted.', 'AbortError'));
        }
      });
      this.#grant(name);
    });
  }

  holder(name) {
    return this.held.get(name);
  }

  #grant(name) {
    const queue = this.waiting.get(name) || [];
    if (this.held.has(name) || queue.length === 0) return;
    const entry = queue.shift();
    this.held.set(name, entry);
    Promise.resolve()
      .then(() => entry.callback({ name, mode: 'exclusive' }))
      .then(entry.resolve, entry.reject)
      .finally(() => {
        this.held.delete(name);
        this.#grant(name);
      });
  }
}

const NAMES = ['EventSource', 'localStorage', 'BroadcastChannel', 'navigator'];

// Installs fresh fakes; returns them and a restore(). `shared: false` leaves out Web Locks and
// BroadcastChannel, as in browsers without them.
export function install({ shared = true, storage = {} } = {}) {
  const saved = NAMES.map((n) => [n, Object.getOwnPropertyDescriptor(globalThis, n)]);
  FakeEventSource.instances = [];
  FakeBroadcastChannel.open = new Set();
  const fakes = {
    EventSource: FakeEventSource,
    localStorage: new FakeStorage(storage),
    BroadcastChannel: shared ? FakeBroadcastChannel : undefined,
    navigator: shared ? { locks: new FakeLocks() } : {},
  };
  // defineProperty, not assignment: newer Node versions define some of these as getters.
  for (const n of NAMES) {
    Object.defineProperty(globalThis, n, { value: fakes[n], configurable: true, writable: true });
  }
  const restore = () => {
    for (const [n, d] of saved) {
      if (d) Object.defineProperty(globalThis, n, d);
      else delete globalThis[n];
    }
  };
  return { ...fakes, locks: fakes.navigator.locks, restore };
}

// Lets queued microtasks and promise chains (lock grants, channel deliveries) run.
export const settle = () => new Promise((resolve) => setImmediate(resolve));
