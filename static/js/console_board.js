/* Console section: the proposals board (docs/pages.md, docs/jobs.md "The proposals board").
 *
 * State is the server's (static/js/board_state.js): `GET …/proposals` on (re)open and reset,
 * then the `board` topic's events in commit order, each applied only if its card is newer than
 * the one shown (a stale event never overwrites a newer state).
 *
 * Moves: native HTML5 drag and drop, or per card a "Move to" select and Up/Down buttons (the
 * keyboard way). Both POST …/proposals/<id>/move with the card's version; a 409 re-reads the
 * board and says why. The card moves on screen when its event arrives, not from the API's
 * answer: an event about another card committed just before ours may still be on its way, and
 * only the stream's commit order puts both where the server has them.
 * Edits: a dialog, PATCH with the version. Build: POST …/jobs {kind: build_tree}; its state
 * comes from the `jobs` topic, and the cards move to `built` live (board.card.built). */
(function (root) {
  'use strict';

  var PH = root.PH;
  var C = root.PHConsole;
  var el = PH.el;
  var $ = function (id) { return document.getElementById(id); };
  var COLUMNS = root.BoardState.COLUMNS;
  var MOVABLE = COLUMNS.slice(0, 4);
  var LABEL = { new: 'New', shortlisted: 'Shortlisted', accepted: 'Accepted', rejected: 'Rejected', built: 'Built' };

  var board = root.BoardState.create();  // static/js/board_state.js: snapshot + events
  var order = board.order;
  var openQuotes = {};      // card id -> its sample quotes are expanded
  var dragged = null;       // id of the card being dragged
  var build = null;         // the latest build_tree job seen
  var reading = null;       // the board read in flight

  function say(message) { C.say(message); }
  function showError(message) { $('board-error').textContent = message || ''; }

  function load() {
    if (reading) return reading;
    board.begin();
    reading = PH.api(C.base + '/proposals').then(function (snapshot) {
      reading = null;
      board.finish(snapshot);
      draw();
    }, function (err) {
      reading = null;
      board.abort();
      showError('The board could not be read: ' + C.errorText(err));
    });
    return reading;
  }

  // --- drawing --------------------------------------------------------------------------------------
  var nodes = {};  // card id -> {version, li}
  var lists = {};  // column -> <ol>

  function quoteText(q) { return typeof q === 'string' ? q : (q && q.text) || ''; }

  function cardBody(card) {
    var built = card.column === 'built';
    var facts = [
      el('span', { class: 'badge num', title: 'distinct viewers who asked', text: PH.fmt(card.supporters) + ' supporter' + (card.supporters === 1 ? '' : 's') }),
      el('span', { class: 'badge num', text: PH.fmt(card.suggestion_count) + ' suggestion' + (card.suggestion_count === 1 ? '' : 's') }),
      el('span', { class: 'badge num', title: 'confidence', text: Math.round((card.confidence || 0) * 100) + '% confidence' }),
    ];
    var tree = [];
    if (card.tier) tree.push('tier ' + card.tier);
    if (card.cost != null) tree.push('cost ' + PH.fmt(card.cost));
    if (card.prerequisites && card.prerequisites.length) tree.push('needs ' + card.prerequisites.join(', '));
    var quotes = (card.sample_quotes || []).filter(quoteText);
    var details = null;
    if (quotes.length) {
      details = el('details', { class: 'board-quotes', open: openQuotes[card.id] ? true : null }, [
        el('summary', { text: quotes.length + ' sample quote' + (quotes.length === 1 ? '' : 's') }),
        el('ul', {}, quotes.map(function (q) {
          return el('li', {}, ['\u201c' + quoteText(q) + '\u201d', q && q.by ? el('span', { class: 'muted', text: ' \u2014 ' + q.by }) : null]);
        })),
      ]);
      details.addEventListener('toggle', function () { openQuotes[card.id] = details.open; });
    }
    return [
      el('h3', { class: 'board-title', id: 'card-' + card.id + '-title', text: card.title }),
      card.summary ? el('p', { class: 'small board-summary', text: card.summary }) : null,
      el('div', { class: 'row board-facts' }, facts),
      tree.length ? el('p', { class: 'small muted board-tree', text: tree.join(' · ') }) : null,
      built && card.built_node ? el('p', { class: 'small' }, ['Node ', el('code', { text: card.built_node })]) : null,
      details,
      built ? null : controls(card),
    ];
  }

  function controls(card) {
    var id = 'card-' + card.id + '-to';
    var select = el('select', { id: id, 'data-act': 'column' }, MOVABLE.map(function (c) {
      return el('option', { value: c, selected: c === card.column ? true : null, text: LABEL[c] });
    }));
    var name = card.title;
    return el('div', { class: 'row board-controls', role: 'group', 'aria-label': 'Move ' + name }, [
      el('label', { class: 'sr-only', for: id, text: 'Move ' + name + ' to column' }),
      select,
      el('button', { type: 'button', class: 'btn btn-sm', 'data-act': 'move', 'aria-label': 'Move ' + name + ' to the chosen column', text: 'Move' }),
      el('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'data-act': 'up', 'aria-label': 'Move ' + name + ' up', text: '\u2191' }),
      el('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'data-act': 'down', 'aria-label': 'Move ' + name + ' down', text: '\u2193' }),
      el('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'data-act': 'edit', 'aria-label': 'Edit ' + name, text: 'Edit' }),
    ]);
  }

  function cardNode(card) {
    var known = nodes[card.id];
    if (known && known.version === card.version && known.column === card.column) return known.li;
    var li = known ? known.li : el('li', { class: 'board-card', 'data-card': String(card.id) });
    li.textContent = '';
    li.setAttribute('aria-labelledby', 'card-' + card.id + '-title');
    li.dataset.version = String(card.version);
    li.dataset.column = card.column;
    if (card.column === 'built') li.removeAttribute('draggable');
    else li.setAttribute('draggable', 'true');
    cardBody(card).forEach(function (n) { if (n) li.appendChild(n); });
    nodes[card.id] = { version: card.version, column: card.column, li: li };
    return li;
  }

  function skeleton() {
    var box = $('board-columns');
    box.textContent = '';
    COLUMNS.forEach(function (c) {
      var list = el('ol', { class: 'list-plain board-list', 'data-column': c, 'aria-labelledby': 'col-' + c + '-h' });
      lists[c] = list;
      box.appendChild(el('section', { class: 'board-col', 'data-column': c, 'data-testid': 'column-' + c }, [
        el('h3', { class: 'board-col-head', id: 'col-' + c + '-h' }, [LABEL[c] + ' ', el('span', { class: 'badge num', 'data-count': c, text: '0' })]),
        list,
        el('p', { class: 'empty small', 'data-empty': c, text: c === 'built' ? 'Nothing built yet.' : 'No cards.' }),
      ]));
    });
    box.removeAttribute('aria-busy');
  }

  function drawNow() {
    if (!board.loaded) return;
    if (!lists.new) skeleton();
    if (marker.parentNode) marker.parentNode.removeChild(marker);  // a drag's next dragover puts it back
    var focus = focusedControl();
    COLUMNS.forEach(function (c) {
      var list = lists[c];
      order[c].forEach(function (id, i) {
        var li = cardNode(board.cards[id]);
        if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
      });
      while (list.children.length > order[c].length) list.removeChild(list.lastChild);
      document.querySelector('[data-count="' + c + '"]').textContent = String(order[c].length);
      document.querySelector('[data-empty="' + c + '"]').hidden = order[c].length > 0;
    });
    Object.keys(nodes).forEach(function (id) { if (!board.cards[id]) delete nodes[id]; });
    restoreFocus(focus);
    updateBuildButton();
  }

  /* A redraw rebuilds a changed card and moves cards between lists, which drops the focus of
   * a control inside them: note which card and control had it, and give it back after. */
  function focusedControl() {
    var active = document.activeElement;
    var li = active && active.closest ? active.closest('.board-card') : null;
    return li ? { el: active, id: li.dataset.card, act: active.dataset.act } : null;
  }

  function restoreFocus(focus) {
    if (!focus || document.activeElement === focus.el) return;
    var target = document.contains(focus.el) ? focus.el : null;
    if (!target && nodes[focus.id]) {
      target = nodes[focus.id].li.querySelector('[data-act="' + focus.act + '"]') || nodes[focus.id].li;
    }
    if (!target) target = $('board-columns');
    if (!target.hasAttribute('tabindex') && !/^(BUTTON|SELECT|INPUT|A)$/.test(target.tagName)) target.setAttribute('tabindex', '-1');
    target.focus();
  }

  function draw() { C.repaint.schedule('board', drawNow); }

  // --- moving ---------------------------------------------------------------------------------------
  var columnOf = board.columnOf;

  function move(id, column, position) {
    var card = board.cards[id];
    if (!card) return;
    showError('');
    PH.api(C.base + '/proposals/' + id + '/move', {
      method: 'POST', body: { column: column, position: position, version: card.version },
    }).then(function (now) {
      // Announced when its event arrives (as any move is). Its event normally arrives first; if the stream is down, read the board instead.
      root.setTimeout(function () {
        if (!reading && board.cards[id] && board.cards[id].version < now.version) load();
      }, 3000);
    }).catch(function (err) {
      var why = err.code === 'stale_version'
        ? card.title + ' was changed by someone else meanwhile; the board was re-read, please try again.'
        : 'Could not move ' + card.title + ': ' + C.errorText(err);
      showError(why);
      say(why);
      load();
    });
  }

  function step(id, delta) {
    var column = columnOf(id);
    if (!column) return;
    var next = order[column].indexOf(id) + delta;
    if (next < 0 || next >= order[column].length) return;
    move(id, column, next);
  }

  // Native drag and drop: the insertion point is before the first card whose middle is below
  // the pointer (the dragged card itself skipped), or the end of the column.
  var marker = el('li', { class: 'board-drop', 'aria-hidden': 'true' });

  function dropIndex(list, y) {
    var items = [].slice.call(list.querySelectorAll('.board-card'));
    var index = 0;
    for (var i = 0; i < items.length; i++) {
      if (items[i].dataset.card === String(dragged)) continue;
      var box = items[i].getBoundingClientRect();
      if (y < box.top + box.height / 2) return index;
      index += 1;
    }
    return index;
  }

  function listAt(target) {
    var col = target && target.closest ? target.closest('.board-col') : null;
    return col && col.dataset.column !== 'built' ? lists[col.dataset.column] : null;
  }

  function onDragStart(ev) {
    var li = ev.target.closest && ev.target.closest('.board-card[draggable="true"]');
    if (!li) return;
    dragged = Number(li.dataset.card);
    li.classList.add('dragging');
    ev.dataTransfer.effectAllowed = 'move';
    ev.dataTransfer.setData('text/plain', String(dragged));
  }

  function onDragOver(ev) {
    if (dragged == null) return;
    var list = listAt(ev.target);
    if (!list) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'move';
    var index = dropIndex(list, ev.clientY);
    var items = [].slice.call(list.querySelectorAll('.board-card')).filter(function (n) { return n.dataset.card !== String(dragged); });
    list.insertBefore(marker, items[index] || null);
  }

  function endDrag() {
    if (marker.parentNode) marker.parentNode.removeChild(marker);
    document.querySelectorAll('.board-card.dragging').forEach(function (n) { n.classList.remove('dragging'); });
    dragged = null;
  }

  function onDrop(ev) {
    var list = listAt(ev.target);
    var id = dragged;
    if (!list || id == null) { endDrag(); return; }
    ev.preventDefault();
    var column = list.dataset.column;
    var index = dropIndex(list, ev.clientY);  // among the column's cards without this one
    endDrag();
    var from = columnOf(id);
    if (from === column && order[column].indexOf(id) === index) return;  // dropped where it was
    move(id, column, index);
  }

  // --- editing --------------------------------------------------------------------------------------
  var editing = null;

  function fill(card) {
    var f = $('card-edit-form').elements;
    f.title.value = card.title;
    f.summary.value = card.summary || '';
    f.tier.value = card.tier;
    f.cost.value = card.cost == null ? '' : card.cost;
    f.prerequisites.value = (card.prerequisites || []).join(', ');
    $('card-edit-title').textContent = 'Edit \u201c' + card.title + '\u201d';
  }

  function openEdit(id) {
    editing = board.cards[id];
    if (!editing) return;
    fill(editing);
    $('card-edit-error').textContent = '';
    $('card-edit').showModal();
    $('ce-title').focus();
  }

  function changes(card) {
    var f = $('card-edit-form').elements;
    var now = {
      title: f.title.value.trim(),
      summary: f.summary.value,
      tier: f.tier.value === '' ? card.tier : Number(f.tier.value),
      cost: f.cost.value.trim() === '' ? null : Number(f.cost.value),
      prerequisites: f.prerequisites.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean),
    };
    var out = {};
    Object.keys(now).forEach(function (k) {
      if (JSON.stringify(now[k]) !== JSON.stringify(card[k] == null ? null : card[k])) out[k] = now[k];
    });
    return out;
  }

  function saveEdit(ev) {
    ev.preventDefault();
    var card = editing;
    var body = changes(card);
    if (!Object.keys(body).length) { $('card-edit').close(); return; }
    body.version = card.version;
    $('card-edit-save').disabled = true;
    PH.api(C.base + '/proposals/' + card.id, { method: 'PATCH', body: body }).then(function (now) {
      if (board.edited(now)) draw();
      $('card-edit').close();
      say('Saved ' + now.title + '.');
    }).catch(function (err) {
      if (err.code === 'stale_version') {
        load();
        $('card-edit-error').textContent = 'Someone changed this card meanwhile. Close, check the card as it is now, and edit again.';
      } else {
        $('card-edit-error').textContent = C.errorText(err);
      }
    }).then(function () { $('card-edit-save').disabled = false; });
  }

  // --- build tree ---------------------------------------------------------------------------------
  var RUNNING = { queued: true, running: true };

  function updateBuildButton() {
    var button = $('board-build');
    button.disabled = !order.accepted.length || !!(build && RUNNING[build.status]);
  }

  function showBuild(job) {
    if (!job || job.kind !== 'build_tree') return;
    if (build && build.id === job.id && job.version != null && build.version != null && job.version < build.version) return;
    build = job;
    var badge = $('board-build-status');
    var text, tone = '';
    if (RUNNING[job.status]) {
      text = 'Building\u2026 ' + Math.round(job.percent || 0) + '%';
      tone = ' badge-accent';
    } else if (job.status === 'succeeded') {
      var n = job.result && job.result.built ? Object.keys(job.result.built).length : 0;
      text = 'Built ' + n + ' node' + (n === 1 ? '' : 's');
      tone = ' badge-ok';
    } else if (job.status === 'failed') {
      text = 'Build failed' + (job.error && job.error.message ? ': ' + job.error.message : '');
      tone = ' badge-danger';
    } else {
      text = 'Build ' + job.status;
    }
    badge.hidden = false;
    badge.dataset.status = job.status;
    badge.className = 'badge' + tone;
    badge.textContent = text;
    updateBuildButton();
  }

  function startBuild() {
    showError('');
    $('board-build').disabled = true;
    PH.api(C.base + '/jobs', { method: 'POST', body: { kind: 'build_tree' } }).then(function (job) {
      showBuild(job);
      say('Building the tree from ' + order.accepted.length + ' accepted card' + (order.accepted.length === 1 ? '' : 's') + '.');
    }).catch(function (err) {
      showError('Could not start the build: ' + C.errorText(err));
      updateBuildButton();
    });
  }

  function loadBuild() {
    PH.api(C.base + '/jobs?kind=build_tree&limit=1').then(function (page) {
      if (page && page.items && page.items.length) showBuild(page.items[0]);
    }).catch(function () { /* the jobs section reports jobs errors; the button still works */ });
  }

  // --- wiring ---------------------------------------------------------------------------------------
  function onBoardEvent(e) {
    if (!board.receive(e)) return;  // held while the board is read, or stale
    var card = (e.data && e.data.card) || {};
    if (e.type === 'board.card.built') say('Built ' + card.title + ' as node ' + card.built_node + '.');
    else if (e.type === 'board.card.moved') say(card.title + ' moved to ' + LABEL[card.column] + ', place ' + (card.position + 1) + '.');
    else if (e.type === 'board.card.created') say('New card: ' + card.title + '.');
    draw();
  }

  C.subscribe('board', { onEvent: onBoardEvent, onReset: load });
  C.subscribe('jobs', {
    onEvent: function (e) { showBuild(e.data); },
    onReset: loadBuild,
  });

  var box = $('board-columns');
  box.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-act]');
    var li = b && b.closest('.board-card');
    if (!li) return;
    var id = Number(li.dataset.card);
    var act = b.dataset.act;
    if (act === 'up') step(id, -1);
    else if (act === 'down') step(id, +1);
    else if (act === 'edit') openEdit(id);
    else if (act === 'move') {
      var column = li.querySelector('select[data-act="column"]').value;
      if (column !== columnOf(id)) move(id, column, order[column].length);
    }
  });
  box.addEventListener('dragstart', onDragStart);
  box.addEventListener('dragover', onDragOver);
  box.addEventListener('drop', onDrop);
  box.addEventListener('dragend', endDrag);
  $('board-build').addEventListener('click', startBuild);
  $('card-edit-save').addEventListener('click', saveEdit);
  $('card-edit-form').addEventListener('submit', saveEdit);
  $('card-edit-cancel').addEventListener('click', function (ev) { ev.preventDefault(); $('card-edit').close(); });
  $('card-edit').addEventListener('close', function () {
    if (editing && nodes[editing.id]) {
      var b = nodes[editing.id].li.querySelector('[data-act="edit"]');
      if (b) b.focus();
    }
    editing = null;
  });
})(window);
