/* The proposals board as a client holds it: the server's snapshot (`GET …/proposals`) plus the
 * `board` topic's events, applied in commit order (docs/events.md, "board topic").
 *
 *   BoardState.create() -> {
 *     columns, cards (id -> card), order (column -> [ids] in position order),
 *     loaded, loading,
 *     begin()        a snapshot read starts: events from now on are held,
 *     finish(board)  it arrived: the snapshot replaces everything, then the held events replay,
 *     abort()        the read failed: held events dropped (the next read brings them),
 *     receive(event) -> applied? (held while a read is in flight),
 *     edited(card)   the API's answer to an edit -> shown? (only if nothing else changed it),
 *     columnOf(id), indexOf(id)
 *   }
 *
 * Positions are dense per column, so a list index is the position: a move takes the card out
 * of wherever it is and puts it at `to`, a removal closes the gap. An event applies only if its
 * card is newer (a higher `version`) than the one held, so a stale event never overwrites a
 * newer state, and an event a snapshot already contains (it may arrive after the snapshot does)
 * is skipped. Strictly newer, never "as new": re-placing a card at an old event's position
 * after later moves of other cards would reorder the column. A client therefore never places a
 * card from its own API answer either (console_board.js waits for the event).
 * Pure: no DOM, so tests/js/board_state.test.mjs drives it. Loads as a classic <script>
 * (window.BoardState) and through `import`, like stream.js.
 */
(function (root) {
  'use strict';

  var COLUMNS = ['new', 'shortlisted', 'accepted', 'rejected', 'built'];

  function create() {
    var state = {
      columns: COLUMNS.slice(), cards: {}, order: {}, loaded: false, loading: false,
      begin: begin, finish: finish, abort: abort, receive: receive, edited: edited,
      columnOf: columnOf, indexOf: indexOf,
    };
    var held = [];
    COLUMNS.forEach(function (c) { state.order[c] = []; });

    function columnOf(id) {
      for (var i = 0; i < COLUMNS.length; i++) if (state.order[COLUMNS[i]].indexOf(id) >= 0) return COLUMNS[i];
      return null;
    }

    function indexOf(id) {
      var column = columnOf(id);
      return column ? state.order[column].indexOf(id) : -1;
    }

    function take(id) {
      var column = columnOf(id);
      if (column) state.order[column].splice(state.order[column].indexOf(id), 1);
    }

    function put(card, column, position) {
      var list = state.order[column];
      if (!list) return false;
      take(card.id);
      var at = position == null ? list.length : Math.max(0, Math.min(position, list.length));
      list.splice(at, 0, card.id);
      state.cards[card.id] = card;
      return true;
    }

    function newer(card) {
      var known = state.cards[card.id];
      return card.id != null && (!known || card.version > known.version);
    }

    function apply(e) {
      var d = e.data || {};
      var card = d.card || {};
      switch (e.type) {
        case 'board.card.created':
          return newer(card) && put(card, card.column, card.position);
        case 'board.card.moved':
        case 'board.card.built':
          if (!newer(card)) return false;
          return put(card, (d.to && d.to.column) || card.column, d.to ? d.to.position : card.position);
        case 'board.card.updated':
          if (!newer(card)) return false;
          if (!state.cards[card.id]) return put(card, card.column, card.position);
          state.cards[card.id] = card;  // an edit or a recount: the card keeps its place
          return true;
        case 'board.card.removed':
          if (!state.cards[card.id]) return false;
          take(card.id);
          delete state.cards[card.id];
          return true;
        default:
          return false;
      }
    }

    function begin() {
      state.loading = true;
      held = [];
    }

    function finish(board) {
      state.cards = {};
      COLUMNS.forEach(function (c) {
        state.order[c] = [];
        (board[c] || []).forEach(function (card) { state.cards[card.id] = card; state.order[c].push(card.id); });
      });
      state.loaded = true;
      state.loading = false;
      var replay = held;
      held = [];
      replay.forEach(apply);
    }

    /* An edit moves nothing, so its answer may be shown at once when it is exactly the next
     * version of the card held (nothing else changed it meanwhile); otherwise its event, in
     * commit order, brings it. */
    function edited(card) {
      var known = state.cards[card.id];
      if (!known || state.loading || card.version !== known.version + 1 || card.column !== known.column) return false;
      state.cards[card.id] = card;
      return true;
    }

    function abort() {
      state.loading = false;
      held = [];
    }

    function receive(e) {
      if (state.loading) { held.push(e); return false; }
      return state.loaded ? apply(e) : false;
    }

    return state;
  }

  var api = { create: create, COLUMNS: COLUMNS };
  root.BoardState = api;
  if (typeof module === 'object' && module.exports) module.exports = api;
})(typeof window !== 'undefined' ? window : globalThis);
