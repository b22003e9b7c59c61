/* Progression Hub stream client: one SSE connection per browser, shared across tabs.
 *
 *   ProgressionStream.connect({community, topics, onEvent, onReset, onStatus, baseUrl, query})
 *     -> {close()}
 *   ProgressionStream.frames(requestFrame?) -> {schedule(key, fn), flush(), pending}
 *     coalesces repaints: many events within a frame cause one render per key (the last wins).
 *
 * `query`: extra URL parameters, e.g. {key: '<overlay key>'} for an OBS overlay of a private
 * community (an EventSource cannot send headers; docs/overlay.md). Never an API token.
 *
 * Loads as a classic <script> (sets window.ProgressionStream) and through `import` (the same
 * global; in Node/CommonJS also module.exports). It uses no `export` statement on purpose:
 * that is a syntax error in a classic script, and one file must serve both.
 *
 * Wire format (realtime/sse.py): frames `id: N` / `event: <type>` / `data: <JSON>`. Events are
 * envelopes {id, type, topic, community, occurred_at, data}; control events are {type, data}:
 * stream.reset (id = where to continue; data.snapshots to refetch), stream.overflow and
 * stream.shutdown (no id; reconnect with the last id), stream.revoked (data.topics lost).
 *
 * Stale snapshots are dropped (not passed to onEvent; `dropStale: false` turns this off): a
 * `progression.progress.updated` whose `progress_id` is older than one already seen or already
 * closed, a `progression.vote.cast` whose `session_id` is older than one seen or already
 * resolved/cancelled. The server publishes them in commit order anyway (docs/realtime.md);
 * this is the client's own check of the same rule, so nothing stale can be shown last.
 */
(function (root) {
  'use strict';

  var PREFIX = 'progression-stream:';
  var CONTROL = ['stream.reset', 'stream.overflow', 'stream.revoked', 'stream.shutdown'];
  // EventSource only dispatches a frame with `event: <type>` to listeners of exactly that type
  // (there is no wildcard), so every type the server may send must be listed. Types published
  // later can be passed as `types` without waiting for an update of this file.
  var TYPES = [
    'progression.progress.updated', 'progression.target.set', 'progression.node.unlocked',
    'progression.node.relocked', 'progression.cycle.completed', 'progression.tree.completed',
    'progression.target.waiting',
    'progression.vote.started', 'progression.vote.cast', 'progression.vote.resolved',
    'progression.vote.frozen', 'progression.vote.unfrozen', 'progression.vote.cancelled',
    'progression.vote.updated', 'progression.season.reset', 'progression.tree.changed',
    'events.progress.updated', 'events.target.completed', 'events.target.reopened',
    'events.event.completed', 'events.event.reopened', 'events.delivery.updated',
    'jobs.job.created', 'jobs.job.progressed', 'jobs.job.succeeded', 'jobs.job.failed',
    'jobs.job.cancelled',
    'board.card.created', 'board.card.moved', 'board.card.updated', 'board.card.built',
    'board.card.removed',
  ];
  var CLOSES_PROGRESS = ['progression.node.unlocked', 'progression.cycle.completed'];
  var ENDS_VOTE = ['progression.vote.resolved', 'progression.vote.cancelled'];
  var CLOSED = 2; // EventSource.CLOSED

  function noop() {}

  function storage() {
    try { return root.localStorage || null; } catch (e) { return null; } // may throw (privacy)
  }

  function readId(key) {
    var s = storage();
    var raw = null;
    try { raw = s && s.getItem(key); } catch (e) { /* unavailable: start live */ }
    var n = raw == null ? NaN : Number(raw);
    return Number.isInteger(n) && n >= 0 ? n : null;
  }

  function writeId(key, id) {
    var s = storage();
    try { if (s) s.setItem(key, String(id)); } catch (e) { /* full or disabled: keep in memory */ }
  }

  // Progress and vote ids only grow (one active progress, one open vote per community), so a
  // snapshot naming an older one, or one an earlier event closed, describes the past.
  function staleness() {
    var progress = 0, closedProgress = 0, session = 0, endedSession = 0;
    function num(v) { return typeof v === 'number' ? v : null; }
    return {
      check: function (envelope) {
        var d = envelope.data || {};
        var type = envelope.type;
        var pid = num(d.progress_id);
        var sid = type.indexOf('progression.vote.') === 0 ? num(d.session_id) : null;
        if (type === 'progression.progress.updated' && pid !== null
            && (pid < progress || pid <= closedProgress)) return true;
        if (type === 'progression.vote.cast' && sid !== null
            && (sid < session || sid <= endedSession)) return true;
        if (pid !== null) {
          progress = Math.max(progress, pid);
          if (CLOSES_PROGRESS.indexOf(type) >= 0) closedProgress = Math.max(closedProgress, pid);
        }
        if (sid !== null) {
          session = Math.max(session, sid);
          if (ENDS_VOTE.indexOf(type) >= 0) endedSession = Math.max(endedSession, sid);
        }
        return false;
      },
      clear: function () { progress = closedProgress = session = endedSession = 0; },
    };
  }

  function connect(opts) {
    opts = opts || {};
    if (!opts.community) throw new Error('ProgressionStream.connect: community is required');
    var onEvent = opts.onEvent || noop;
    var onReset = opts.onReset || noop;
    var onStatus = opts.onStatus || noop;
    var baseUrl = (opts.baseUrl || '').replace(/\/+$/, '');
    var minDelay = opts.minDelay || 1000;
    var maxDelay = opts.maxDelay || 30000;
    var topics = typeof opts.topics === 'string' ? opts.topics.split(',') : opts.topics;
    topics = (topics && topics.length ? topics : ['progression', 'events'])
      .map(function (t) { return String(t).trim(); }).filter(Boolean).sort();
    // Keyed by the topics asked for (not those left after a revoke) so a reload finds it again.
    var key = PREFIX + opts.community + ':' + topics.join(',');
    var types = TYPES.concat(opts.types || [], CONTROL).filter(function (t, i, all) {
      return t !== 'message' && all.indexOf(t) === i; // one listener per type, or doubled calls
    });

    var lastId = readId(key);
    var stale = opts.dropStale === false ? null : staleness();
    var closed = false;
    var leader = false;
    var es = null;
    var timer = null;
    var attempt = 0;
    var channel = null;
    var releaseLock = null;
    var abort = null;

    function status(state, info, fromLeader) {
      if (leader && channel && !fromLeader) channel.postMessage({ kind: 'status', state: state, info: info });
      try { onStatus(state, info || {}); } catch (e) { report(e); }
    }

    function report(error) { // a failing callback must not break the stream
      if (root.console && root.console.error) root.console.error('ProgressionStream', error);
    }

    // Ids increase per community, so "seen" is one number: anything at or below it is a repeat
    // (browser retry, replay overlap, a second copy arriving over the BroadcastChannel).
    function deliver(envelope) {
      if (closed || !envelope || typeof envelope.id !== 'number') return;
      if (lastId !== null && envelope.id <= lastId) return;
      lastId = envelope.id;
      if (leader) {
        writeId(key, lastId);
        if (channel) channel.postMessage({ kind: 'event', envelope: envelope });
      }
      if (stale && typeof envelope.type === 'string' && stale.check(envelope)) return;
      try { onEvent(envelope); } catch (e) { report(e); }
    }

    function reset(id, snapshots) {
      // Set, not max: after a reset the server's head may be below our id (history wiped).
      if (typeof id === 'number') lastId = id;
      if (stale) stale.clear(); // history may have been wiped: ids may start again
      if (leader) {
        if (lastId !== null) writeId(key, lastId);
        if (channel) channel.postMessage({ kind: 'reset', id: id, snapshots: snapshots });
      }
      try { onReset(snapshots || {}); } catch (e) { report(e); }
    }

    var extra = Object.keys(opts.query || {}).filter(function (k) {
      return k !== 'topics' && k !== 'last_event_id' && opts.query[k] != null;
    }).map(function (k) {
      return '&' + encodeURIComponent(k) + '=' + encodeURIComponent(String(opts.query[k]));
    }).join('');

    function url() {
      var q = 'topics=' + encodeURIComponent(topics.join(',')) + extra;
      if (lastId !== null) q += '&last_event_id=' + lastId;
      return baseUrl + '/api/communities/' + encodeURIComponent(opts.community) + '/stream?' + q;
    }

    function drop() {
      if (es) { es.close(); es = null; }
      if (timer !== null) { clearTimeout(timer); timer = null; }
    }

    function open() {
      drop();
      if (closed || !leader) return;
      status('connecting', { attempt: attempt, lastEventId: lastId });
      var source = es = new root.EventSource(url(), { withCredentials: !!opts.withCredentials });
      function mine(fn) { return function (ev) { if (source === es) fn(ev); }; }
      source.onopen = mine(function () { attempt = 0; status('open', { lastEventId: lastId }); });
      // We close on every error and reconnect ourselves: the browser retries only some
      // failures (never a 403/500 or a wrong content type) and at the fixed `retry:` interval,
      // which brings every client back at once after a restart; we want backoff with jitter.
      source.onerror = mine(function () { retry('error', backoff()); });
      function onData(ev) {
        var msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return report(e); }
        if (CONTROL.indexOf(ev.type) >= 0) control(ev, msg);
        else deliver(msg);
      }
      types.forEach(function (t) { source.addEventListener(t, mine(onData)); });
      source.onmessage = mine(onData); // frames without an `event:` line
    }

    function control(ev, msg) {
      var data = (msg && msg.data) || {};
      if (ev.type === 'stream.reset') {
        var id = ev.lastEventId !== '' && ev.lastEventId != null ? Number(ev.lastEventId) : msg.id;
        reset(Number.isInteger(id) ? id : null, data.snapshots);
      } else if (ev.type === 'stream.revoked') {
        revoke(data);
        status('revoked', data);
        if (!topics.length) { drop(); status('closed', { reason: 'revoked' }); }
      } else {
        // overflow / shutdown: the server is about to close. Reconnect soon, with a little
        // jitter so a restart does not bring every client back in the same millisecond.
        retry(ev.type.slice(7), Math.floor(Math.random() * Math.min(minDelay, 500)));
      }
    }

    // Asking again for a lost topic would be refused (403) at every retry: keep what is left.
    // Followers apply it too, for the day they take over the connection.
    function revoke(data) {
      topics = topics.filter(function (t) { return (data.topics || []).indexOf(t) < 0; });
    }

    // Exponential backoff with "equal jitter": half fixed, half random, capped.
    function backoff() {
      var ceiling = Math.min(maxDelay, minDelay * Math.pow(2, attempt));
      attempt += 1;
      return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    }

    function retry(reason, delay) {
      drop();
      if (closed || !leader) return;
      status('reconnecting', { reason: reason, delay: delay, attempt: attempt });
      timer = setTimeout(function () { timer = null; open(); }, delay);
    }

    function lead() {
      leader = true;
      open();
    }

    var locks = root.navigator && root.navigator.locks;
    if (locks && typeof locks.request === 'function' && typeof root.BroadcastChannel === 'function') {
      channel = new root.BroadcastChannel(key);
      channel.onmessage = function (ev) {
        var m = ev.data || {};
        if (m.kind === 'event') deliver(m.envelope);
        else if (m.kind === 'reset') reset(m.id, m.snapshots);
        else if (m.kind === 'status' && !leader) {
          if (m.state === 'revoked') revoke(m.info || {});
          status(m.state, m.info, true);
        }
      };
      abort = typeof root.AbortController === 'function' ? new root.AbortController() : null;
      var lockOpts = abort ? { signal: abort.signal } : {};
      status('following', {});
      // Whoever holds the lock holds the EventSource. The lock is held until close() or until
      // the tab goes away (the browser releases it then), and the next waiting tab takes over,
      // resuming from the last id *it* has delivered, so it neither skips nor repeats.
      locks.request(key, lockOpts, function () {
        if (closed) return undefined;
        return new Promise(function (resolve) { releaseLock = resolve; lead(); });
      }).catch(function (e) { if (!closed) report(e); });
    } else {
      lead(); // no Web Locks or BroadcastChannel: every tab connects for itself
    }

    return {
      close: function () {
        if (closed) return;
        drop();
        closed = true;
        leader = false;
        if (releaseLock) releaseLock();
        else if (abort) abort.abort();
        if (channel) channel.close();
        try { onStatus('closed', { reason: 'closed' }); } catch (e) { report(e); }
      },
      get lastEventId() { return lastId; },
      get isLeader() { return leader; },
    };
  }

  // A burst of events (100/s while chat is busy) must not repaint 100 times: each render is
  // queued under a key ("progress", "vote", ...) and run once at the next animation frame, with
  // the latest function queued for that key. Keys run in the order they were first queued.
  function frames(requestFrame) {
    var raf = requestFrame
      || (typeof root.requestAnimationFrame === 'function' && root.requestAnimationFrame.bind(root))
      || function (fn) { return setTimeout(function () { fn(Date.now()); }, 16); };
    var jobs = {};
    var order = [];
    var requested = false;

    function flush() {
      requested = false;
      var run = jobs, keys = order;
      jobs = {};
      order = [];
      keys.forEach(function (k) {
        try { run[k](); } catch (e) {
          if (root.console && root.console.error) root.console.error('ProgressionStream.frames', e);
        }
      });
    }

    return {
      schedule: function (key, fn) {
        if (!Object.prototype.hasOwnProperty.call(jobs, key)) order.push(key);
        jobs[key] = fn;
        if (!requested) { requested = true; raf(flush); }
      },
      flush: flush,
      get pending() { return order.length; },
    };
  }

  var api = { connect: connect, frames: frames, types: TYPES.slice() };
  root.ProgressionStream = api;
  if (typeof module === 'object' && module && module.exports) module.exports = api;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
