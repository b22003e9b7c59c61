// node --test tests/js/   (also run from pytest by tests/js/test_stream_js.py)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

const SOURCE = new URL('../../static/js/alert_queue.js', import.meta.url);
await import(SOURCE.href);
const { create } = globalThis.AlertQueue;

// Fake time: timers fire only when the test advances the clock.
function clock() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    setTimer: (fn, ms) => { seq += 1; timers.set(seq, { at: now + ms, fn }); return seq; },
    clearTimer: (id) => timers.delete(id),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at || a[0] - b[0]);
        if (!due.length) break;
        const [id, t] = due[0];
        timers.delete(id);
        now = t.at;
        t.fn();
      }
      now = end;
    },
    get now() { return now; },
  };
}

function queueWith(options = {}) {
  const time = clock();
  const log = [];
  const q = create({
    durationMs: 1000,
    gapMs: 100,
    setTimer: time.setTimer,
    clearTimer: time.clearTimer,
    show: (a) => log.push({ at: time.now, show: a.name }),
    hide: (a) => log.push({ at: time.now, hide: a.name }),
    ...options,
  });
  return { q, time, log };
}

describe('a burst of unlocks', () => {
  test('each is shown in turn, in order, for its full time', () => {
    const { q, time, log } = queueWith();
    q.push({ id: 1, name: 'A' });
    q.push({ id: 2, name: 'B' });
    q.push({ id: 3, name: 'C' });
    time.advance(10_000);
    assert.deepEqual(log, [
      { at: 0, show: 'A' }, { at: 1000, hide: 'A' },
      { at: 1100, show: 'B' }, { at: 2100, hide: 'B' },
      { at: 2200, show: 'C' }, { at: 3200, hide: 'C' },
    ]);
  });

  test('a new alert never replaces the one on screen', () => {
    const { q, time, log } = queueWith();
    q.push({ id: 1, name: 'A' });
    time.advance(500);
    q.push({ id: 2, name: 'B' });
    assert.equal(q.current.name, 'A');
    assert.equal(q.pending, 1);
    time.advance(499);
    assert.deepEqual(log, [{ at: 0, show: 'A' }]);
    time.advance(2000);
    assert.deepEqual(log.map((e) => e.show || `-${e.hide}`), ['A', '-A', 'B', '-B']);
    assert.equal(log[2].at, 1100);
  });

  test('an alert after a quiet spell shows at once', () => {
    const { q, time, log } = queueWith();
    q.push({ id: 1, name: 'A' });
    time.advance(5000);
    q.push({ id: 2, name: 'B' });
    assert.deepEqual(log.at(-1), { at: 5000, show: 'B' });
  });
});

describe('bounds and repeats', () => {
  test('an id seen before is not celebrated twice (stream replay)', () => {
    const { q, time, log } = queueWith();
    assert.equal(q.push({ id: 7, name: 'A' }), true);
    assert.equal(q.push({ id: 7, name: 'A' }), false);
    time.advance(5000);
    assert.equal(log.filter((e) => e.show).length, 1);
  });

  test('past maxQueued the newest are dropped and counted', () => {
    const { q, time, log } = queueWith({ maxQueued: 2 });
    for (let i = 1; i <= 5; i += 1) q.push({ id: i, name: `N${i}` });
    // N1 is on screen, N2 and N3 wait, N4 and N5 do not fit.
    assert.equal(q.dropped, 2);
    time.advance(10_000);
    assert.deepEqual(log.filter((e) => e.show).map((e) => e.show), ['N1', 'N2', 'N3']);
  });

  test('clear() hides the current alert and forgets the waiting ones', () => {
    const { q, time, log } = queueWith();
    q.push({ id: 1, name: 'A' });
    q.push({ id: 2, name: 'B' });
    q.clear();
    time.advance(10_000);
    assert.deepEqual(log, [{ at: 0, show: 'A' }, { at: 0, hide: 'A' }]);
    assert.equal(q.pending, 0);
  });

  test('a throwing show() does not stop the queue', () => {
    const time = clock();
    const shown = [];
    const errors = console.error;
    console.error = () => {};
    try {
      const q = create({
        durationMs: 10, gapMs: 0, setTimer: time.setTimer, clearTimer: time.clearTimer,
        show: (a) => { shown.push(a.name); if (a.name === 'A') throw new Error('boom'); },
      });
      q.push({ id: 1, name: 'A' });
      q.push({ id: 2, name: 'B' });
      time.advance(100);
    } finally {
      console.error = errors;
    }
    assert.deepEqual(shown, ['A', 'B']);
  });
});
