/* The overlay's alert queue: every alert of a burst is shown in turn, for its full time, in
 * the order it arrived, and never replaced by the next one (a burst of unlocks is the moment a
 * streamer's audience should see, one by one).
 *
 *   AlertQueue.create({show, hide, durationMs, gapMs, maxQueued, setTimer, clearTimer})
 *     -> {push(alert) -> bool, clear(), pending, current, dropped}
 *
 * `show(alert)` puts it on screen, `hide(alert)` takes it off; the next one is shown `gapMs`
 * after the hide (room for an exit animation). An alert with an `id` already seen is ignored
 * (a stream replay after a reconnect must not celebrate twice). At most `maxQueued` wait; past
 * that the newest are dropped and counted (`dropped`), so memory stays bounded whatever comes.
 * Pure: no DOM, timers injectable, so tests/js/alert_queue.test.mjs drives it with fake time.
 * Loads as a classic <script> (window.AlertQueue) and through `import`, like stream.js.
 */
(function (root) {
  'use strict';

  function noop() {}

  function create(opts) {
    opts = opts || {};
    var show = opts.show || noop;
    var hide = opts.hide || noop;
    var duration = opts.durationMs == null ? 5000 : opts.durationMs;
    var gap = opts.gapMs == null ? 400 : opts.gapMs;
    var maxQueued = opts.maxQueued == null ? 50 : opts.maxQueued;
    var setTimer = opts.setTimer || function (fn, ms) { return root.setTimeout(fn, ms); };
    var clearTimer = opts.clearTimer || function (t) { root.clearTimeout(t); };
    var queue = [];
    var seen = new Set();
    var current = null;
    var timer = null;
    var dropped = 0;

    function report(error) {
      if (root.console && root.console.error) root.console.error('AlertQueue', error);
    }

    function next() {
      timer = null;
      if (!queue.length) return;
      current = queue.shift();
      try { show(current); } catch (e) { report(e); }
      timer = setTimer(finish, duration);
    }

    function finish() {
      var done = current;
      current = null;
      try { hide(done); } catch (e) { report(e); }
      timer = setTimer(next, queue.length ? gap : 0);
    }

    return {
      push: function (alert) {
        if (alert && alert.id != null) {
          if (seen.has(alert.id)) return false;
          seen.add(alert.id);
        }
        if (queue.length >= maxQueued) { dropped += 1; return false; }
        queue.push(alert);
        if (current === null && timer === null) next();
        return true;
      },
      clear: function () {
        queue = [];
        if (timer !== null) { clearTimer(timer); timer = null; }
        if (current !== null) {
          var done = current;
          current = null;
          try { hide(done); } catch (e) { report(e); }
        }
      },
      get pending() { return queue.length; },
      get current() { return current; },
      get dropped() { return dropped; },
    };
  }

  var api = { create: create };
  root.AlertQueue = api;
  if (typeof module === 'object' && module && module.exports) module.exports = api;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
