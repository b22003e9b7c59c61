// node --test tests/js/   (also run from pytest by tests/js/test_stream_js.py)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import vm from 'node:vm';

import { FakeEventSource, envelopeOf, install, settle } from './fakes.mjs';

const SOURCE = new URL('../../static/js/stream.js', import.meta.url);
await import(SOURCE.href);
const { connect } = globalThis.ProgressionStream;

const KEY = 'progression-stream:club:events,progression';
let env;
let handles;

beforeEach(() => {
  handles = [];
});

afterEach(() => {
  for (const h of handles) h.close();
  env?.restore();
  env = undefined;
});

// A tab: a connect() call recording what its callbacks saw.
function tab(options = {}) {
  const seen = { events: [], resets: [], statuses: [] };
  const handle = connect({
    community: 'club',
    topics: ['progression', 'events'],
    onEvent: (e) => seen.events.push(e),
    onReset: (s) => seen.resets.push(s),
    onStatus: (state, info) => seen.statuses.push({ state, ...info }),
    ...options,
  });
  handles.push(handle);
  return { handle, seen, ids: () => seen.events.map((e) => e.id) };
}

const delays = (seen) => seen.statuses.filter((s) => s.delay !== undefined).map((s) => s.delay);

describe('resume', () => {
  test('first connection passes the stored id as last_event_id', () => {
    env = install({ shared: false, storage: { [KEY]: '41' } });
    const { seen } = tab({ baseUrl: 'https://hub.test/' });
    const es = FakeEventSource.latest;
    assert.equal(
      es.url,
      'https://hub.test/api/communities/club/stream?topics=events%2Cprogression&last_event_id=41',
    );
    es.open();
    es.event(42);
    assert.deepEqual(seen.events, [envelopeOf(42)]);
    assert.equal(env.localStorage.getItem(KEY), '42');
  });

  test('extra query parameters (an overlay key) ride along, escaped, without replacing topics', () => {
    env = install({ shared: false });
    tab({ query: { key: 'ok_abc_d/e+f', topics: 'admin', skip: null } });
    assert.equal(
      FakeEventSource.latest.url,
      '/api/communities/club/stream?topics=events%2Cprogression&key=ok_abc_d%2Fe%2Bf',
    );
  });

  test('a page reload resumes from the last delivered id', () => {
    env = install({ shared: false });
    const first = tab();
    assert.equal(FakeEventSource.latest.params.get('last_event_id'), null, 'nothing stored: live');
    FakeEventSource.latest.event(7);
    FakeEventSource.latest.event(8);
    first.handle.close();
    assert.equal(FakeEventSource.latest.readyState, FakeEventSource.CLOSED);

    tab(); // the reloaded page
    assert.equal(FakeEventSource.instances.length, 2);
    assert.equal(FakeEventSource.latest.params.get('last_event_id'), '8');
  });

  test('ids are stored per community and topic set', () => {
    env = install({ shared: false, storage: { [KEY]: '41' } });
    tab({ topics: 'jobs' });
    assert.equal(FakeEventSource.latest.params.get('last_event_id'), null);
    assert.equal(FakeEventSource.latest.params.get('topics'), 'jobs');
  });
});

describe('dedupe', () => {
  test('an id is delivered once, also across a reconnect that replays it', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    env = install({ shared: false });
    const { ids } = tab();
    const es = FakeEventSource.latest;
    es.open();
    es.event(42);
    es.event(42);
    es.event(41);
    es.event(43);
    assert.deepEqual(ids(), [42, 43]);

    es.fail();
    t.mock.timers.tick(60_000);
    const again = FakeEventSource.latest;
    assert.notEqual(again, es);
    assert.equal(again.params.get('last_event_id'), '43');
    again.open();
    again.event(43); // overlap
    again.event(44);
    assert.deepEqual(ids(), [42, 43, 44]);
  });
});

describe('reconnect', () => {
  test('backoff doubles with jitter, is capped, and resets after a successful open', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    t.mock.method(Math, 'random', () => 0.5);
    env = install({ shared: false });
    const { seen } = tab({ minDelay: 1000, maxDelay: 8000 });

    const expected = [750, 1500, 3000, 6000, 6000]; // ceiling/2 + 0.5 * ceiling/2, cap 8000
    for (const delay of expected) {
      const es = FakeEventSource.latest;
      es.fail();
      const count = FakeEventSource.instances.length;
      t.mock.timers.tick(delay - 1);
      assert.equal(FakeEventSource.instances.length, count, `not before ${delay} ms`);
      t.mock.timers.tick(1);
      assert.equal(FakeEventSource.instances.length, count + 1, `after ${delay} ms`);
    }
    assert.deepEqual(delays(seen), expected);

    FakeEventSource.latest.open();
    FakeEventSource.latest.fail();
    assert.equal(delays(seen).at(-1), 750, 'reset after open');
  });

  test('jitter spreads the delay between half and all of the ceiling', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    env = install({ shared: false });
    const { seen } = tab({ minDelay: 1000, maxDelay: 64000 });
    for (let i = 0; i < 6; i += 1) {
      FakeEventSource.latest.fail();
      t.mock.timers.tick(64_000);
    }
    delays(seen).forEach((d, i) => {
      assert.ok(d >= 500 * 2 ** i && d <= 1000 * 2 ** i, `attempt ${i}: ${d}`);
    });
  });

  test('an error the browser would retry itself is taken over too (fresh last_event_id)', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    env = install({ shared: false, storage: { [KEY]: '5' } });
    tab();
    const es = FakeEventSource.latest;
    es.open();
    es.event(6);
    es.fail({ closed: false });
    assert.equal(es.readyState, FakeEventSource.CLOSED, 'closed so the browser does not retry');
    t.mock.timers.tick(1000);
    assert.equal(FakeEventSource.latest.params.get('last_event_id'), '6');
  });

  for (const type of ['stream.overflow', 'stream.shutdown']) {
    test(`${type} reconnects promptly with the last id`, (t) => {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      env = install({ shared: false });
      const { ids, seen } = tab({ minDelay: 1000 });
      const es = FakeEventSource.latest;
      es.open();
      es.fail(); // one earlier failure: a prompt reconnect must not wait for the backoff
      t.mock.timers.tick(1000);
      const live = FakeEventSource.latest;
      live.open();
      live.event(42);
      live.event(43);
      live.event(44);
      live.control(type, { reason: 'x' });
      assert.equal(live.readyState, FakeEventSource.CLOSED);
      t.mock.timers.tick(499);
      const next = FakeEventSource.latest;
      assert.notEqual(next, live, 'reconnected within 500 ms');
      assert.equal(next.params.get('last_event_id'), '44');
      assert.deepEqual(ids(), [42, 43, 44]);
      assert.equal(seen.statuses.at(-2).reason, type.slice('stream.'.length));
    });
  }

  test('stream.revoked drops the lost topics from later connections; all lost stops', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    env = install({ shared: false });
    const { seen } = tab({ topics: ['progression', 'events', 'jobs'], types: ['jobs.job.finished'] });
    let es = FakeEventSource.latest;
    es.open();
    es.event(3, 'jobs.job.finished', 'jobs');
    es.control('stream.revoked', { topics: ['jobs'], remaining: ['events', 'progression'] });
    assert.equal(seen.statuses.at(-1).state, 'revoked');
    assert.equal(es.readyState, FakeEventSource.OPEN, 'the server keeps streaming the rest');
    es.fail();
    t.mock.timers.tick(1000);
    es = FakeEventSource.latest;
    assert.equal(es.params.get('topics'), 'events,progression');
    assert.equal(es.params.get('last_event_id'), '3');
    assert.equal(env.localStorage.getItem('progression-stream:club:events,jobs,progression'), '3');

    es.open();
    es.control('stream.revoked', { topics: ['events', 'progression'], remaining: [] });
    assert.equal(es.readyState, FakeEventSource.CLOSED);
    const count = FakeEventSource.instances.length;
    t.mock.timers.tick(120_000);
    assert.equal(FakeEventSource.instances.length, count, 'no retry into a 403');
    assert.deepEqual(seen.statuses.at(-1), { state: 'closed', reason: 'revoked' });
  });
});

describe('event types', () => {
  // EventSource has no wildcard: a frame with `event: <type>` reaches only listeners of that
  // type. The client listens to the catalogue's types; others (not yet catalogued) must be
  // passed as `types`.
  test('types outside the built-in list are delivered once listed', () => {
    env = install({ shared: false });
    const plain = tab();
    const listed = tab({ types: ['board.card.archived', 'board.card.archived'] });
    const [first, second] = FakeEventSource.instances;
    first.event(9, 'board.card.archived', 'board');
    second.event(9, 'board.card.archived', 'board');
    assert.deepEqual(plain.ids(), []);
    assert.deepEqual(listed.ids(), [9], 'once, though listed twice');
    second.emit('message', envelopeOf(10)); // a frame without an `event:` line
    assert.deepEqual(listed.ids(), [9, 10]);
  });
});

describe('stream.reset', () => {
  test('calls onReset with the snapshots and continues from its id', () => {
    env = install({ shared: false, storage: { [KEY]: '5' } });
    const { handle, seen, ids } = tab();
    const es = FakeEventSource.latest;
    es.open();
    const snapshots = { community: '/api/communities/club', progression: '/api/communities/club/progression' };
    es.control('stream.reset', { reason: 'old', snapshots }, 100);
    assert.deepEqual(seen.resets, [snapshots]);
    assert.equal(handle.lastEventId, 100);
    assert.equal(env.localStorage.getItem(KEY), '100');
    es.event(100);
    es.event(101);
    assert.deepEqual(ids(), [101]);
  });

  test('a reset below the stored id (history wiped) still lets new events through', () => {
    env = install({ shared: false, storage: { [KEY]: '500' } });
    const { ids } = tab();
    const es = FakeEventSource.latest;
    es.control('stream.reset', { snapshots: {} }, 10);
    es.event(11);
    assert.deepEqual(ids(), [11]);
    assert.equal(env.localStorage.getItem(KEY), '11');
  });
});

describe('tabs', () => {
  test('the leader holds the only connection and rebroadcasts; a follower takes over', async () => {
    env = install({ shared: true, storage: { [KEY]: '41' } });
    const a = tab();
    const b = tab();
    await settle();
    assert.equal(FakeEventSource.instances.length, 1, 'one connection for both tabs');
    assert.equal(a.handle.isLeader, true);
    assert.equal(b.handle.isLeader, false);
    assert.equal(env.locks.holder(KEY) !== undefined, true);

    const es = FakeEventSource.latest;
    assert.equal(es.params.get('last_event_id'), '41');
    es.open();
    es.event(42);
    es.event(43);
    es.control('stream.reset', { snapshots: { events: '/e' } }, 50);
    es.event(51);
    await settle();
    assert.deepEqual(a.ids(), [42, 43, 51]);
    assert.deepEqual(b.ids(), [42, 43, 51], 'the follower got the rebroadcast');
    assert.deepEqual(b.seen.resets, [{ events: '/e' }]);
    assert.ok(b.seen.statuses.some((s) => s.state === 'open'), 'leader status relayed');

    a.handle.close(); // the leader tab goes away: its lock is released
    await settle();
    assert.equal(b.handle.isLeader, true);
    assert.equal(FakeEventSource.instances.length, 2);
    const next = FakeEventSource.latest;
    assert.equal(next.params.get('last_event_id'), '51');
    next.open();
    next.event(51);
    next.event(52);
    await settle();
    assert.deepEqual(b.ids(), [42, 43, 51, 52]);
    assert.deepEqual(a.ids(), [42, 43, 51], 'a closed tab hears nothing');
    assert.equal(env.localStorage.getItem(KEY), '52');
  });

  test('a follower that closes before it leads gives up its place in the queue', async () => {
    env = install({ shared: true });
    const a = tab();
    const b = tab();
    const c = tab();
    await settle();
    b.handle.close();
    a.handle.close();
    await settle();
    assert.equal(c.handle.isLeader, true);
    assert.equal(FakeEventSource.instances.length, 2, 'b never connected');
  });

  test('a follower that takes over does not ask again for topics the leader lost', async () => {
    env = install({ shared: true });
    const a = tab({ topics: ['progression', 'jobs'] });
    const b = tab({ topics: ['progression', 'jobs'] });
    await settle();
    FakeEventSource.latest.open();
    FakeEventSource.latest.control('stream.revoked', { topics: ['jobs'], remaining: ['progression'] });
    await settle();
    assert.ok(b.seen.statuses.some((s) => s.state === 'revoked'));
    a.handle.close();
    await settle();
    assert.equal(FakeEventSource.latest.params.get('topics'), 'progression');
  });

  test('without Web Locks or BroadcastChannel every tab connects itself', () => {
    env = install({ shared: false });
    const a = tab();
    const b = tab();
    assert.equal(FakeEventSource.instances.length, 2);
    assert.equal(a.handle.isLeader && b.handle.isLeader, true);
    FakeEventSource.instances[0].event(1);
    assert.deepEqual(a.ids(), [1]);
    assert.deepEqual(b.ids(), []);
  });
});

describe('loading', () => {
  test('runs as a classic script and sets window.ProgressionStream', () => {
    const window = {};
    window.window = window;
    const context = vm.createContext(window);
    new vm.Script(readFileSync(SOURCE, 'utf8'), { filename: 'stream.js' }).runInContext(context);
    assert.equal(typeof window.ProgressionStream.connect, 'function');
  });

  test('a throwing callback does not break the stream', (t) => {
    t.mock.method(console, 'error', () => {});
    env = install({ shared: false });
    const got = [];
    handles.push(
      connect({
        community: 'club',
        onEvent: (e) => {
          got.push(e.id);
          throw new Error('dashboard bug');
        },
      }),
    );
    FakeEventSource.latest.event(1);
    FakeEventSource.latest.event(2);
    assert.deepEqual(got, [1, 2]);
    assert.equal(console.error.mock.callCount(), 2);
  });
});

describe('stale snapshots', () => {
  // Envelopes as the server sends them, with the ids that tell a snapshot's age.
  function send(es, id, type, data) {
    es.emit(type, { ...envelopeOf(id, type), data }, id);
  }
  const types = (seen) => seen.events.map((e) => `${e.type.slice(12)}:${e.id}`);

  test('a progress.updated of a closed or older progress is dropped, newer ones pass', () => {
    env = install({ shared: false });
    const { handle, seen } = tab();
    const es = FakeEventSource.latest;
    es.open();
    send(es, 1, 'progression.progress.updated', { progress_id: 7, accumulated: 10 });
    send(es, 2, 'progression.node.unlocked', { progress_id: 7, reason: 'points' });
    send(es, 3, 'progression.progress.updated', { progress_id: 7, accumulated: 99 }); // closed
    send(es, 4, 'progression.progress.updated', { progress_id: 8, accumulated: 0 });
    send(es, 5, 'progression.tree.completed', { season_id: 1 });
    send(es, 6, 'progression.progress.updated', { progress_id: 7, accumulated: 100 }); // older
    send(es, 7, 'progression.progress.updated', { progress_id: 8, accumulated: 5 });
    assert.deepEqual(types(seen), [
      'progress.updated:1',
      'node.unlocked:2',
      'progress.updated:4',
      'tree.completed:5',
      'progress.updated:7',
    ]);
    assert.equal(handle.lastEventId, 7, 'dropped events still count as received');
  });

  test('a target.set of a newer progress makes a snapshot of the older one stale', () => {
    env = install({ shared: false });
    const { seen } = tab();
    const es = FakeEventSource.latest;
    send(es, 1, 'progression.target.set', { progress_id: 3 });
    send(es, 2, 'progression.progress.updated', { progress_id: 2 });
    assert.deepEqual(types(seen), ['target.set:1']);
  });

  test('a vote.cast of a resolved, cancelled or replaced vote is dropped', () => {
    env = install({ shared: false });
    const { seen } = tab();
    const es = FakeEventSource.latest;
    send(es, 1, 'progression.vote.cast', { session_id: 4, total_votes: 1 });
    send(es, 2, 'progression.vote.resolved', { session_id: 4 });
    send(es, 3, 'progression.vote.cast', { session_id: 4, total_votes: 2 }); // resolved
    send(es, 4, 'progression.vote.started', { session_id: 5 });
    send(es, 5, 'progression.vote.cast', { session_id: 5, total_votes: 1 });
    send(es, 6, 'progression.vote.cancelled', { session_id: 5 });
    send(es, 7, 'progression.vote.cast', { session_id: 5, total_votes: 2 }); // cancelled
    send(es, 8, 'progression.vote.started', { session_id: 6 });
    send(es, 9, 'progression.vote.cast', { session_id: 5, total_votes: 3 }); // replaced
    assert.deepEqual(types(seen), [
      'vote.cast:1',
      'vote.resolved:2',
      'vote.started:4',
      'vote.cast:5',
      'vote.cancelled:6',
      'vote.started:8',
    ]);
  });

  test('a follower tab drops the same stale snapshots as the leader', async () => {
    env = install({ shared: true });
    const leader = tab();
    const follower = tab();
    await settle();
    const es = FakeEventSource.latest;
    send(es, 1, 'progression.node.unlocked', { progress_id: 9 });
    send(es, 2, 'progression.progress.updated', { progress_id: 9 });
    send(es, 3, 'progression.progress.updated', { progress_id: 10 });
    await settle();
    assert.deepEqual(types(leader.seen), ['node.unlocked:1', 'progress.updated:3']);
    assert.deepEqual(types(follower.seen), ['node.unlocked:1', 'progress.updated:3']);
  });

  test('after stream.reset (history may be wiped) smaller ids are believed again', () => {
    env = install({ shared: false });
    const { seen } = tab();
    const es = FakeEventSource.latest;
    send(es, 1, 'progression.progress.updated', { progress_id: 50 });
    es.control('stream.reset', { snapshots: {} }, 1);
    send(es, 2, 'progression.progress.updated', { progress_id: 1 });
    assert.deepEqual(types(seen), ['progress.updated:1', 'progress.updated:2']);
  });

  test('dropStale: false passes everything through', () => {
    env = install({ shared: false });
    const { seen } = tab({ dropStale: false });
    const es = FakeEventSource.latest;
    send(es, 1, 'progression.node.unlocked', { progress_id: 9 });
    send(es, 2, 'progression.progress.updated', { progress_id: 9 });
    assert.deepEqual(types(seen), ['node.unlocked:1', 'progress.updated:2']);
  });
});
