// node --test tests/js/   : ProgressionStream.frames, the repaint scheduler of static/js/stream.js
import assert from 'node:assert/strict';
import { test } from 'node:test';

const SOURCE = new URL('../../static/js/stream.js', import.meta.url);
await import(SOURCE.href);
const { frames } = globalThis.ProgressionStream;

function fakeFrames() {
  const callbacks = [];
  return {
    request: (fn) => callbacks.push(fn),
    tick() { const run = callbacks.splice(0); run.forEach((fn) => fn(0)); return run.length; },
    get waiting() { return callbacks.length; },
  };
}

test('a burst of renders under one key runs once, with the last one queued', () => {
  const raf = fakeFrames();
  const sched = frames(raf.request);
  const seen = [];
  for (let i = 0; i < 100; i += 1) sched.schedule('progress', () => seen.push(i));
  assert.equal(raf.waiting, 1, 'one animation frame requested for the whole burst');
  assert.deepEqual(seen, [], 'nothing renders before the frame');
  raf.tick();
  assert.deepEqual(seen, [99]);
  assert.equal(sched.pending, 0);
});

test('different keys each render once per frame, in the order first queued', () => {
  const raf = fakeFrames();
  const sched = frames(raf.request);
  const seen = [];
  sched.schedule('vote', () => seen.push('vote1'));
  sched.schedule('progress', () => seen.push('progress'));
  sched.schedule('vote', () => seen.push('vote2'));
  assert.equal(sched.pending, 2);
  raf.tick();
  assert.deepEqual(seen, ['vote2', 'progress']);
});

test('a render queued during a frame waits for the next frame', () => {
  const raf = fakeFrames();
  const sched = frames(raf.request);
  const seen = [];
  sched.schedule('a', () => { seen.push('a'); sched.schedule('b', () => seen.push('b')); });
  raf.tick();
  assert.deepEqual(seen, ['a']);
  assert.equal(raf.waiting, 1);
  raf.tick();
  assert.deepEqual(seen, ['a', 'b']);
});

test('a failing render does not stop the others', () => {
  const raf = fakeFrames();
  const sched = frames(raf.request);
  const seen = [];
  const error = console.error;
  console.error = () => {};
  try {
    sched.schedule('bad', () => { throw new Error('boom'); });
    sched.schedule('good', () => seen.push('good'));
    raf.tick();
  } finally {
    console.error = error;
  }
  assert.deepEqual(seen, ['good']);
});

test('without requestAnimationFrame it falls back to a timer', async () => {
  const sched = frames();
  const done = new Promise((resolve) => sched.schedule('x', resolve));
  await done;
});
