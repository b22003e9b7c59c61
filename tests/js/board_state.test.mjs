// node --test tests/js/   (also run from pytest by tests/js/test_stream_js.py)
// The proposals board's client state (static/js/board_state.js): snapshot + events in commit
// order, versions guarding against stale events, a snapshot read racing the stream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

const SOURCE = new URL('../../static/js/board_state.js', import.meta.url);
await import(SOURCE.href);
const { create } = globalThis.BoardState;

const card = (id, column, position, version = 1, extra = {}) => ({ id, column, position, version, title: `card ${id}`, ...extra });
const moved = (c, from, to) => ({ type: 'board.card.moved', data: { card: c, from, to } });
const at = (column, position) => ({ column, position });

function loaded(board) {
  const state = create();
  state.begin();
  state.finish(board);
  return state;
}

// The server's board after a sequence of moves, as the client should end up.
const ids = (state) => Object.fromEntries(state.columns.map((c) => [c, state.order[c].slice()]));

describe('board state', () => {
  test('a move within a column and across columns keeps positions dense, as the server does', () => {
    const state = loaded({ new: [card(1, 'new', 0), card(2, 'new', 1), card(3, 'new', 2)] });
    assert.equal(state.receive(moved(card(3, 'new', 0, 2), at('new', 2), at('new', 0))), true);
    assert.deepEqual(state.order.new, [3, 1, 2]);
    assert.equal(state.receive(moved(card(1, 'accepted', 0, 2), at('new', 1), at('accepted', 0))), true);
    assert.deepEqual(ids(state), { new: [3, 2], shortlisted: [], accepted: [1], rejected: [], built: [] });
    assert.equal(state.cards[1].column, 'accepted');
  });

  test('a stale event (a version not newer than the card shown) changes nothing', () => {
    const state = loaded({ new: [card(1, 'new', 0, 5), card(2, 'new', 1)] });
    assert.equal(state.receive(moved(card(1, 'rejected', 0, 4), at('new', 0), at('rejected', 0))), false);
    assert.equal(state.receive(moved(card(1, 'rejected', 0, 5), at('new', 0), at('rejected', 0))), false);
    assert.equal(state.receive({ type: 'board.card.updated', data: { card: card(1, 'new', 0, 3, { title: 'old' }) } }), false);
    assert.deepEqual(state.order.new, [1, 2]);
    assert.equal(state.cards[1].title, 'card 1');
  });

  test('a removed card closes its gap; created and built cards land where the event says', () => {
    const state = loaded({ new: [card(1, 'new', 0), card(2, 'new', 1), card(3, 'new', 2)], accepted: [card(4, 'accepted', 0)] });
    state.receive({ type: 'board.card.removed', data: { card: { id: 2 }, reason: 'merged', into: 1 } });
    assert.deepEqual(state.order.new, [1, 3]);
    state.receive({ type: 'board.card.created', data: { card: card(5, 'new', 2) } });
    assert.deepEqual(state.order.new, [1, 3, 5]);
    state.receive({ type: 'board.card.built', data: { card: card(4, 'built', 0, 2, { built_node: 'x' }), from: at('accepted', 0), to: at('built', 0) } });
    assert.deepEqual([state.order.accepted, state.order.built], [[], [4]]);
    assert.equal(state.cards[4].built_node, 'x');
  });

  test('an edit keeps the card in place', () => {
    const state = loaded({ shortlisted: [card(1, 'shortlisted', 0), card(2, 'shortlisted', 1)] });
    state.receive({ type: 'board.card.updated', data: { card: card(2, 'shortlisted', 1, 2, { title: 'Renamed' }), changed: ['title'] } });
    assert.deepEqual(state.order.shortlisted, [1, 2]);
    assert.equal(state.cards[2].title, 'Renamed');
  });

  test('events during a snapshot read are held, then only those newer than the snapshot apply', () => {
    // Server: [A, B, C] in new. e1: A to 1 -> [B, A, C]; e2: B to 2 -> [A, C, B]. The snapshot
    // was read after e2; e1 and e2 reach the client around the read. Re-placing a card at an
    // old event's position would give [C, A, B]; skipping them gives the server's board.
    const [A, B, C] = [1, 2, 3];
    const e1 = moved(card(A, 'new', 1, 2), at('new', 0), at('new', 1));
    const e2 = moved(card(B, 'new', 2, 2), at('new', 0), at('new', 2));
    const e3 = moved(card(C, 'accepted', 0, 2), at('new', 1), at('accepted', 0));
    const state = create();
    state.begin();
    assert.equal(state.receive(e1), false);  // held
    state.receive(e2);
    state.receive(e3);                       // after the snapshot: must apply
    state.finish({ new: [card(A, 'new', 0, 2), card(C, 'new', 1, 1), card(B, 'new', 2, 2)] });
    assert.deepEqual(ids(state), { new: [A, B], shortlisted: [], accepted: [C], rejected: [], built: [] });
    // And an event the snapshot already holds, arriving after it, is skipped too.
    assert.equal(state.receive(e2), false);
    assert.deepEqual(state.order.new, [A, B]);
  });

  test('nothing applies before the first snapshot; a failed read drops what it held', () => {
    const state = create();
    assert.equal(state.receive({ type: 'board.card.created', data: { card: card(1, 'new', 0) } }), false);
    state.begin();
    state.receive({ type: 'board.card.created', data: { card: card(1, 'new', 0) } });
    state.abort();
    assert.equal(state.loaded, false);
    state.begin();
    state.finish({ new: [card(2, 'new', 0)] });
    assert.deepEqual(state.order.new, [2]);
  });

  test('an edit answer shows at once only when it is the next version of the card held', () => {
    const state = loaded({ new: [card(1, 'new', 0, 3)] });
    assert.equal(state.edited(card(1, 'new', 0, 5, { title: 'skipped one' })), false);
    assert.equal(state.cards[1].version, 3);
    assert.equal(state.edited(card(1, 'new', 0, 4, { title: 'Next' })), true);
    assert.equal(state.cards[1].title, 'Next');
    // Its event follows with the same version and is skipped.
    assert.equal(state.receive({ type: 'board.card.updated', data: { card: card(1, 'new', 0, 4, { title: 'Next' }) } }), false);
  });
});
