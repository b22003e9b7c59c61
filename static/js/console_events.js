/* Console section: events (issue 11, point 9). Every read and write goes through the events JSON
 * API with the session (PH.api); the figures shown are the API's (events_app/progress.py is the
 * one definition: nothing is recomputed here), kept live by the `events` topic through
 * PHConsole.subscribe (static/js/console.js): `events.progress.updated` carries an event's new
 * figures, the completion events are announced, a delivery change re-reads that event's list.
 * Each event is a summary row with its bars; "Details" opens targets, runs and deliveries. */
(function (root) {
  'use strict';

  var PH = root.PH;
  var C = root.PHConsole;
  var section = document.getElementById('events');
  if (!PH || !C || !section) return;

  var el = PH.el;
  var base = C.base;
  var $ = function (id) { return document.getElementById(id); };
  var STATUS = { planned: 'Planned', live: 'Live', closed: 'Closed', cancelled: 'Cancelled' };
  // The moves the API accepts (events_app/services/catalogue.py STATUS_MOVES); a 409 stays the
  // authority, this only avoids offering a button that cannot work.
  var MOVES = {
    planned: [['live', 'Go live'], ['cancelled', 'Cancel event']],
    live: [['closed', 'Close'], ['planned', 'Back to planned'], ['cancelled', 'Cancel event']],
    closed: [['live', 'Reopen']],
    cancelled: [],
  };
  var DELIVERY_NEXT = { pending: 'ready', ready: 'delivered' };
  var state = { when: 'upcoming', order: [], events: {}, cursor: null, items: [], bundles: [] };
  var views = {}; // event id -> the open details' parts
  var uid = 0;

  function today() {
    var d = new Date();
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  }
  function pct(p) { return Math.max(0, Math.min(100, Number(p) || 0)); }
  function plural(n, word, many) { return PH.fmt(n) + ' ' + (n === 1 ? word : many || word + 's'); }
  function when(iso) { return iso ? new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : ''; }

  // --- forms: labelled fields, errors by field ------------------------------------------------
  /* form({fields: [{name, label, type, required, min, value, help, options: 'items'|'bundles'|[[v, t]]}],
   *        submit, onSubmit(values) -> Promise, keep: [names kept after success]}) */
  function form(opts) {
    var id = 'evf' + (++uid);
    var node = el('form', { class: 'form ev-form', novalidate: true, 'aria-labelledby': opts.title ? id + '-t' : null });
    if (opts.title) node.appendChild(el('h4', { id: id + '-t', text: opts.title }));
    opts.fields.forEach(function (f) {
      var fid = id + '-' + f.name;
      var input;
      if (f.options) {
        input = el('select', { id: fid, name: f.name, required: f.required, 'data-catalogue': typeof f.options === 'string' ? f.options : null });
        if (typeof f.options === 'string') fillSelect(input, f.options);
        else f.options.forEach(function (o) { input.appendChild(el('option', { value: o[0], text: o[1] })); });
      } else if (f.type === 'textarea') {
        input = el('textarea', { id: fid, name: f.name, rows: '2', maxlength: f.max || null });
      } else {
        input = el('input', { id: fid, name: f.name, type: f.type || 'text', required: f.required, min: f.min, step: f.type === 'number' ? '1' : null,
          inputmode: f.type === 'number' ? 'numeric' : null, value: f.value != null ? String(f.value) : null, maxlength: f.max || null,
          placeholder: f.placeholder || null, autocomplete: 'off' });
      }
      input.setAttribute('aria-describedby', fid + '-err' + (f.help ? ' ' + fid + '-help' : ''));
      node.appendChild(el('div', { class: 'field' }, [
        el('label', { for: fid, text: f.label + (f.required ? '' : ' (optional)') }), input,
        f.help ? el('span', { id: fid + '-help', class: 'help', text: f.help }) : null,
        el('p', { id: fid + '-err', class: 'errorlist', 'data-error-for': f.name }),
      ]));
    });
    if (opts.extra) node.appendChild(opts.extra);
    var general = el('div', { class: 'errorlist', role: 'alert', 'data-form-error': '' });
    var button = el('button', { class: 'btn btn-primary btn-sm', type: 'submit', text: opts.submit });
    node.appendChild(general);
    node.appendChild(el('div', { class: 'row' }, [button]));
    node.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearErrors(node);
      var values = {};
      opts.fields.forEach(function (f) {
        var raw = node.elements.namedItem(f.name).value.trim();
        if (raw === '' && !f.required) return;
        values[f.name] = (f.type === 'number' || f.numeric) && raw !== '' && !isNaN(Number(raw)) ? Number(raw) : raw;
      });
      button.disabled = true;
      Promise.resolve().then(function () { return opts.onSubmit(values, node); }).then(function () {
        button.disabled = false;
        opts.fields.forEach(function (f) {
          if ((opts.keep || []).indexOf(f.name) < 0 && !f.options) node.elements.namedItem(f.name).value = f.value != null ? String(f.value) : '';
        });
      }).catch(function (e) {
        button.disabled = false;
        showErrors(node, e);
      });
    });
    return node;
  }

  function clearErrors(node) {
    node.querySelectorAll('[aria-invalid]').forEach(function (i) { i.removeAttribute('aria-invalid'); });
    node.querySelectorAll('[data-error-for]').forEach(function (p) { p.textContent = ''; });
    var general = node.querySelector('[data-form-error]');
    if (general) general.textContent = '';
  }

  /* The API's {code, message, fields}: a field the form has is marked and explained under it;
   * the others (a 409's "missing components", item name -> "needed 6, available 0") are listed
   * under the message. */
  function showErrors(node, e) {
    var rest = [];
    Object.keys((e && e.fields) || {}).forEach(function (k) {
      var text = [].concat(e.fields[k]).join(', ');
      var key = k.split('.')[0];
      var input = node.elements.namedItem(key);
      var slot = e.status !== 409 && node.querySelector('[data-error-for="' + key + '"]');
      if (slot) {
        if (input && input.setAttribute) input.setAttribute('aria-invalid', 'true');
        slot.textContent = (slot.textContent ? slot.textContent + '; ' : '') + text;
      } else {
        rest.push([k, text]);
      }
    });
    var general = node.querySelector('[data-form-error]');
    general.textContent = '';
    general.appendChild(el('p', { text: (e && e.message) || 'Something went wrong.' }));
    if (rest.length) {
      general.appendChild(el('ul', { class: 'ev-missing', 'data-testid': 'ev-error-fields' }, rest.map(function (r) {
        return el('li', {}, [el('strong', { text: r[0] }), ': ' + r[1]]);
      })));
    }
    var first = node.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }

  function fillSelect(select, kind) {
    var current = select.value;
    select.textContent = '';
    var list = state[kind] || [];
    if (!list.length) select.appendChild(el('option', { value: '', text: kind === 'items' ? 'No items yet' : 'No bundles yet' }));
    list.forEach(function (x) {
      select.appendChild(el('option', { value: String(x.id), text: x.name }));
    });
    if (current && list.some(function (x) { return String(x.id) === current; })) select.value = current;
  }

  // --- the catalogue ----------------------------------------------------------------------------
  function loadCatalogue() {
    return Promise.all([PH.api(base + '/items'), PH.api(base + '/bundles')]).then(function (r) {
      state.items = r[0].items;
      state.bundles = r[1].bundles;
      section.querySelectorAll('select[data-catalogue]').forEach(function (s) { fillSelect(s, s.dataset.catalogue); });
      renderCatalogue();
    }).catch(function (e) { $('ev-error').textContent = C.errorText(e); });
  }

  function renderCatalogue() {
    var items = $('ev-items'), bundles = $('ev-bundles');
    items.textContent = '';
    bundles.textContent = '';
    state.items.forEach(function (i) {
      items.appendChild(el('li', { text: i.name + ' · ' + plural(i.yield_per_batch, i.unit || 'unit') + ' per batch' }));
    });
    state.bundles.forEach(function (b) {
      bundles.appendChild(el('li', { text: b.name + ' = ' + b.components.map(function (c) { return c.quantity + ' × ' + c.item; }).join(' + ') }));
    });
    if (!state.items.length) items.appendChild(el('li', { class: 'muted', text: 'No items yet.' }));
    if (!state.bundles.length) bundles.appendChild(el('li', { class: 'muted', text: 'No bundles yet.' }));
  }

  function componentRow() {
    var n = ++uid;
    var select = el('select', { id: 'evc-i' + n, name: 'component_item', 'data-catalogue': 'items' });
    fillSelect(select, 'items');
    var qty = el('input', { id: 'evc-q' + n, name: 'component_quantity', type: 'number', min: '1', step: '1', value: '1', inputmode: 'numeric' });
    var row = el('div', { class: 'ev-component' }, [
      el('div', { class: 'field' }, [el('label', { for: 'evc-i' + n, text: 'Component item' }), select]),
      el('div', { class: 'field' }, [el('label', { for: 'evc-q' + n, text: 'Quantity' }), qty]),
    ]);
    row.appendChild(el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: 'Remove', 'aria-label': 'Remove this component',
      onclick: function () { if (row.parentNode.children.length > 1) row.remove(); } }));
    return row;
  }

  function buildCatalogueForms() {
    var holder = $('ev-cat-forms');
    holder.appendChild(form({
      title: 'New item', submit: 'Add item',
      fields: [
        { name: 'name', label: 'Name', required: true, max: 120, placeholder: 'cookies' },
        { name: 'yield_per_batch', label: 'Units per batch', type: 'number', min: '1', value: 1, required: true },
        { name: 'unit', label: 'Unit', max: 40, placeholder: 'cookie' },
      ],
      onSubmit: function (v) {
        return PH.api(base + '/items', { method: 'POST', body: v }).then(function (item) {
          C.say('Item ' + item.name + ' added.');
          return loadCatalogue();
        });
      },
    }));
    var components = el('div', { class: 'ev-components' }, [componentRow()]);
    var extra = el('fieldset', { class: 'ev-bom' }, [
      el('legend', { text: 'Components' }), components,
      el('p', { class: 'errorlist', 'data-error-for': 'components' }),
      el('button', { type: 'button', class: 'btn btn-sm', text: 'Add another component', onclick: function () { components.appendChild(componentRow()); } }),
    ]);
    holder.appendChild(form({
      title: 'New bundle', submit: 'Add bundle', extra: extra,
      fields: [
        { name: 'name', label: 'Name', required: true, max: 120, placeholder: 'gift box' },
        { name: 'description', label: 'Description', type: 'textarea', max: 5000 },
      ],
      onSubmit: function (v) {
        v.components = Array.prototype.map.call(components.children, function (row) {
          return { item: Number(row.querySelector('select').value), quantity: Number(row.querySelector('input').value) };
        });
        return PH.api(base + '/bundles', { method: 'POST', body: v }).then(function (b) {
          C.say('Bundle ' + b.name + ' added.');
          components.textContent = '';
          components.appendChild(componentRow());
          return loadCatalogue();
        });
      },
    }));
  }

  // --- the list ---------------------------------------------------------------------------------
  function loadEvents(more) {
    var q = '?when=' + state.when + '&limit=50' + (more && state.cursor ? '&cursor=' + encodeURIComponent(state.cursor) : '');
    return PH.api(base + '/events' + q).then(function (page) {
      if (!more) {
        state.order = [];
        state.events = {};
      }
      page.events.forEach(function (e) {
        if (state.order.indexOf(e.id) < 0) state.order.push(e.id);
        state.events[e.id] = e;
      });
      state.cursor = page.next_cursor;
      $('ev-error').textContent = '';
      C.repaint.schedule('events', renderList);
    }).catch(function (e) { $('ev-error').textContent = C.errorText(e); });
  }

  var reloadTimer = null;
  function reloadSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(function () { loadEvents(false); }, 200);
  }

  function belongs(ev) {
    if (state.when === 'all') return true;
    return state.when === 'upcoming' ? ev.ends_on >= today() : ev.ends_on < today();
  }

  function renderList() {
    var list = $('ev-list');
    var keep = {};
    state.order.forEach(function (id) {
      var li = list.querySelector('li[data-event-id="' + id + '"]') || buildRow(id);
      keep[id] = true;
      list.appendChild(li); // in order
      renderSummary(id);
    });
    Array.prototype.slice.call(list.children).forEach(function (li) {
      if (!keep[li.dataset.eventId]) { delete views[li.dataset.eventId]; li.remove(); }
    });
    $('ev-empty').hidden = state.order.length > 0;
    $('ev-empty').textContent = state.when === 'past' ? 'No past events.' : state.when === 'upcoming' ? 'No upcoming events.' : 'No events yet.';
    $('ev-more').hidden = !state.cursor;
    Object.keys(views).forEach(function (id) { renderDetails(id); });
  }

  function bar(kind, label) {
    var id = 'ev' + (++uid);
    return el('div', { class: 'ev-bar', 'data-kind': kind }, [
      el('span', { id: id, class: 'ev-bar-label small', text: label }),
      el('div', { class: 'bar bar-sm', role: 'progressbar', 'aria-labelledby': id, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
        'data-testid': 'ev-' + kind + '-bar' }, [el('div', { class: 'fill' })]),
      el('span', { class: 'ev-bar-figure num small', 'data-testid': 'ev-' + kind + '-figure' }),
    ]);
  }

  function buildRow(id) {
    var ev = state.events[id];
    var detailsId = 'ev-' + id + '-details';
    var toggle = el('button', { type: 'button', class: 'btn btn-sm', 'aria-expanded': 'false', 'aria-controls': detailsId,
      'aria-label': 'Details of ' + ev.name, text: 'Details', 'data-details': String(id) });
    return el('li', { class: 'ev', 'data-event-id': String(id), 'data-testid': 'ev-row' }, [
      el('div', { class: 'ev-summary' }, [
        el('div', { class: 'ev-title' }, [
          el('strong', { class: 'ev-name' }), el('span', { class: 'ev-dates muted small' }),
          el('span', { class: 'badge ev-status' }), el('span', { class: 'badge badge-ok ev-complete', text: 'Complete', hidden: true }),
        ]),
        bar('production', 'Production'), bar('assembly', 'Assembly'),
        el('span', { class: 'ev-deliveries small muted' }),
        toggle,
      ]),
      el('div', { class: 'ev-details', id: detailsId, hidden: true }),
    ]);
  }

  function setBar(wrap, summary, noun) {
    var b = wrap.querySelector('[role="progressbar"]');
    var has = summary.status !== 'none';
    var text = has ? summary.percent + '% · ' + summary.complete + '/' + plural(summary.targets, 'target') : 'no ' + noun + ' targets';
    b.setAttribute('aria-valuenow', String(Math.round(pct(summary.percent))));
    b.setAttribute('aria-valuetext', text);
    b.classList.toggle('full', summary.status === 'complete');
    b.firstChild.style.width = pct(summary.percent) + '%';
    wrap.classList.toggle('ev-none', !has);
    wrap.querySelector('.ev-bar-figure').textContent = text;
  }

  function renderSummary(id) {
    var ev = state.events[id];
    var li = $('ev-list').querySelector('li[data-event-id="' + id + '"]');
    if (!ev || !li) return;
    var p = ev.progress;
    li.querySelector('.ev-name').textContent = ev.name;
    li.querySelector('.ev-dates').textContent = ev.starts_on === ev.ends_on ? ev.starts_on : ev.starts_on + ' → ' + ev.ends_on;
    var status = li.querySelector('.ev-status');
    status.textContent = STATUS[ev.status] || ev.status;
    status.className = 'badge ev-status' + (ev.status === 'live' ? ' badge-accent' : ev.status === 'cancelled' ? ' badge-danger' : '');
    li.querySelector('.ev-complete').hidden = !p.complete;
    setBar(li.querySelector('.ev-bar[data-kind="production"]'), p.production_summary, 'production');
    setBar(li.querySelector('.ev-bar[data-kind="assembly"]'), p.assembly_summary, 'assembly');
    var d = p.deliveries;
    li.querySelector('.ev-deliveries').textContent = d.total ? 'Deliveries: ' + d.pending + ' pending · ' + d.ready + ' ready · ' + d.delivered + ' delivered' : 'No deliveries';
    li.querySelector('[data-details]').setAttribute('aria-label', 'Details of ' + ev.name);
  }

  // --- details ----------------------------------------------------------------------------------
  function eventPath(id) { return base + '/events/' + id; }

  /* After this console's own write: re-read the event (its figures as the API computes them),
   * so the change shows even before (or without) the stream's `events.progress.updated`. */
  function refreshEvent(id) {
    return PH.api(eventPath(id)).then(function (e) {
      if (!state.events[id]) return;
      state.events[id] = e;
      C.repaint.schedule('ev:' + id, function () { renderSummary(id); renderDetails(id); });
    }).catch(function (e) { $('ev-error').textContent = C.errorText(e); });
  }

  function toggleDetails(id, forceOpen) {
    var li = $('ev-list').querySelector('li[data-event-id="' + id + '"]');
    if (!li) return;
    var button = li.querySelector('[data-details]');
    var box = li.querySelector('.ev-details');
    var opening = forceOpen || box.hidden;
    box.hidden = !opening;
    button.setAttribute('aria-expanded', String(opening));
    button.textContent = opening ? 'Hide details' : 'Details';
    if (opening && !views[id]) {
      views[id] = buildDetails(id, box);
      renderDetails(id);
      loadRecords(id);
    } else if (!opening) {
      delete views[id];
      box.textContent = '';
    }
  }

  function table(caption, heads) {
    var tbody = el('tbody');
    return { tbody: tbody, node: el('div', { class: 'table-wrap ev-table' }, [el('table', { class: 'table' }, [
      el('caption', { class: 'sr-only', text: caption }),
      el('thead', {}, [el('tr', {}, heads.map(function (h) { return el('th', { scope: 'col', class: h.num ? 'num' : null }, [h.sr ? el('span', { class: 'sr-only', text: h.text }) : h.text]); }))]),
      tbody,
    ])]) };
  }

  function buildDetails(id, box) {
    var v = { status: el('div', { class: 'row ev-moves', role: 'group', 'aria-label': 'Event status' }), description: el('p', { class: 'small ev-desc' }) };
    var name = state.events[id].name;
    v.targets = table('Targets of ' + name, [{ text: 'Target' }, { text: 'Done', num: true }, { text: 'Progress' }, { text: 'Actions', sr: true }]);
    v.available = el('ul', { class: 'list-plain small ev-available' });
    v.runs = table('Runs of ' + name + ', newest first', [{ text: 'When' }, { text: 'Run' }, { text: 'By' }, { text: 'State' }, { text: 'Actions', sr: true }]);
    v.runsMore = el('p', { class: 'muted small', hidden: true, text: 'Older runs are in the admin site.' });
    v.deliveries = table('Deliveries of ' + name + ', newest first', [{ text: 'Recipient' }, { text: 'Bundle' }, { text: 'Status' }, { text: 'Actions', sr: true }]);
    var recordings = el('div', { class: 'ev-forms' }, [
      form({ title: 'Record a production run', submit: 'Record production run', keep: ['item'],
        fields: [
          { name: 'item', label: 'Item', options: 'items', required: true, numeric: true },
          { name: 'batches', label: 'Batches', type: 'number', min: '1', value: 1, required: true },
          { name: 'actual_yield', label: 'Actual yield', type: 'number', min: '0', help: 'Default: batches × units per batch.' },
          { name: 'recorded_by', label: 'Made by', max: 200 },
        ],
        onSubmit: function (b) {
          return PH.api(eventPath(id) + '/production-runs', { method: 'POST', body: b }).then(function (r) {
            C.say('Recorded ' + plural(r.batches, 'batch', 'batches') + ' for ' + state.events[id].name + '.');
            loadRecords(id);
            refreshEvent(id);
          });
        } }),
      form({ title: 'Record an assembly run', submit: 'Record assembly run', keep: ['bundle'],
        fields: [
          { name: 'bundle', label: 'Bundle', options: 'bundles', required: true, numeric: true },
          { name: 'quantity', label: 'Bundles assembled', type: 'number', min: '1', value: 1, required: true },
          { name: 'recorded_by', label: 'Assembled by', max: 200 },
        ],
        onSubmit: function (b) {
          return PH.api(eventPath(id) + '/assembly-runs', { method: 'POST', body: b }).then(function (r) {
            C.say('Recorded ' + plural(r.quantity, 'bundle') + ' assembled for ' + state.events[id].name + '.');
            loadRecords(id);
            refreshEvent(id);
          });
        } }),
    ]);
    var targetForms = el('div', { class: 'ev-forms' }, [
      form({ title: 'Production target', submit: 'Set production target', keep: ['item'],
        fields: [
          { name: 'item', label: 'Item', options: 'items', required: true },
          { name: 'target_batches', label: 'Batches', type: 'number', min: '1', value: 1, required: true },
        ],
        onSubmit: function (b) {
          return PH.api(eventPath(id) + '/production-targets/' + encodeURIComponent(b.item), { method: 'PUT', body: { target_batches: b.target_batches } })
            .then(function () { C.say('Production target set.'); refreshEvent(id); });
        } }),
      form({ title: 'Assembly target', submit: 'Set assembly target', keep: ['bundle'],
        fields: [
          { name: 'bundle', label: 'Bundle', options: 'bundles', required: true },
          { name: 'target_quantity', label: 'Bundles', type: 'number', min: '1', value: 1, required: true },
        ],
        onSubmit: function (b) {
          return PH.api(eventPath(id) + '/assembly-targets/' + encodeURIComponent(b.bundle), { method: 'PUT', body: { target_quantity: b.target_quantity } })
            .then(function () { C.say('Assembly target set.'); refreshEvent(id); });
        } }),
    ]);
    var deliveryForm = form({ title: 'New delivery', submit: 'Add delivery', keep: ['bundle'],
      fields: [
        { name: 'recipient', label: 'Recipient', required: true, max: 200 },
        { name: 'bundle', label: 'Bundle', options: 'bundles', required: true, numeric: true },
        { name: 'quantity', label: 'Bundles', type: 'number', min: '1', value: 1, required: true },
        { name: 'note', label: 'Note', max: 500 },
      ],
      onSubmit: function (b) {
        return PH.api(eventPath(id) + '/deliveries', { method: 'POST', body: b }).then(function (d) {
          C.say('Delivery to ' + d.recipient + ' added (pending).');
          loadRecords(id);
          refreshEvent(id);
        });
      } });
    [
      el('div', { class: 'row ev-tools' }, [v.status, el('span', { class: 'spacer' }),
        el('a', { class: 'btn btn-sm btn-ghost', href: eventPath(id) + '/progress.csv', download: '', text: 'Download CSV',
          'aria-label': 'Download ' + name + ' as CSV' })]),
      v.description,
      el('h3', { text: 'Targets' }), v.targets.node, targetForms,
      el('h3', { text: 'Available for assembly' }), v.available,
      el('h3', { text: 'Runs' }), recordings, v.runs.node, v.runsMore,
      el('h3', { text: 'Deliveries' }), deliveryForm, v.deliveries.node,
    ].forEach(function (n) { box.appendChild(n); });
    return v;
  }

  function renderDetails(id) {
    var v = views[id], ev = state.events[id];
    if (!v || !ev) return;
    v.status.textContent = '';
    MOVES[ev.status].forEach(function (m) {
      v.status.appendChild(el('button', { type: 'button', class: 'btn btn-sm' + (m[0] === 'cancelled' ? ' btn-danger' : ''), text: m[1],
        'data-move': m[0], 'data-event': String(id) }));
    });
    if (!MOVES[ev.status].length) v.status.appendChild(el('span', { class: 'muted small', text: 'Cancelled events are final.' }));
    v.description.textContent = ev.description || '';
    v.description.hidden = !ev.description;
    var rows = v.targets.tbody, p = ev.progress;
    rows.textContent = '';
    p.production.forEach(function (t) {
      rows.appendChild(targetRow(id, 'production', t.item_id, t.item, t.produced_batches + ' / ' + plural(t.target_batches, 'batch', 'batches')
        + ' (yield ' + PH.fmt(t.produced_yield) + (t.unit ? ' ' + t.unit : '') + ')', t));
    });
    p.assembly.forEach(function (t) {
      rows.appendChild(targetRow(id, 'assembly', t.bundle_id, t.bundle, t.assembled + ' / ' + t.target_quantity + ' assembled', t));
    });
    if (!rows.children.length) rows.appendChild(el('tr', {}, [el('td', { colspan: '4', class: 'muted', text: 'No targets yet.' })]));
    v.available.textContent = '';
    p.available.forEach(function (a) {
      v.available.appendChild(el('li', { text: a.item + ': ' + PH.fmt(a.available) + ' available (' + PH.fmt(a.produced_yield) + ' produced, ' + PH.fmt(a.consumed) + ' used)' }));
    });
    if (!p.available.length) v.available.appendChild(el('li', { class: 'muted', text: 'Nothing produced yet.' }));
  }

  function targetRow(id, kind, refId, name, done, t) {
    var label = (kind === 'production' ? 'Produce ' : 'Assemble ') + name;
    return el('tr', { 'data-target': kind + ':' + refId }, [
      el('th', { scope: 'row' }, [label, t.complete ? el('span', { class: 'badge badge-ok', text: 'Complete' }) : null]),
      el('td', { class: 'num', text: done + (t.overage ? ' (+' + t.overage + ')' : '') }),
      el('td', {}, [el('div', { class: 'bar bar-sm' + (t.complete ? ' full' : ''), role: 'progressbar', 'aria-label': label,
        'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(pct(t.percent))), 'aria-valuetext': t.percent + '%' },
        [el('div', { class: 'fill', style: 'width:' + pct(t.percent) + '%' })]), el('span', { class: 'small num', text: t.percent + '%' })]),
      el('td', {}, [el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: 'Remove', 'aria-label': 'Remove target ' + label,
        'data-remove-target': kind, 'data-ref': String(refId), 'data-event': String(id), 'data-name': label })]),
    ]);
  }

  var recordTimers = {};
  function loadRecords(id) {
    clearTimeout(recordTimers[id]);
    recordTimers[id] = setTimeout(function () {
      if (!views[id]) return;
      Promise.all([PH.api(eventPath(id) + '/runs?limit=50'), PH.api(eventPath(id) + '/deliveries?limit=100')]).then(function (r) {
        if (!views[id]) return;
        renderRuns(id, r[0]);
        renderDeliveries(id, r[1]);
      }).catch(function (e) { $('ev-error').textContent = C.errorText(e); });
    }, 100);
  }

  function runText(r) {
    if (r.kind === 'production') {
      return r.name + ': ' + plural(r.batches, 'batch', 'batches') + ' → ' + PH.fmt(r.actual_yield);
    }
    var used = Object.keys(r.consumed || {}).map(function (k) { return r.consumed[k] + ' ' + k; }).join(', ');
    return r.name + ': ' + plural(r.quantity, 'bundle') + (used ? ' (used ' + used + ')' : '');
  }

  function renderRuns(id, page) {
    var v = views[id], rows = v.runs.tbody;
    rows.textContent = '';
    page.runs.forEach(function (r) {
      var label = (r.kind === 'production' ? 'production' : 'assembly') + ' run ' + r.name + ' of ' + when(r.recorded_at);
      rows.appendChild(el('tr', { 'data-run': r.kind + ':' + r.id, class: r.voided_at ? 'ev-voided' : null }, [
        el('td', { class: 'small', text: when(r.recorded_at) }),
        el('td', { text: runText(r) }),
        el('td', { class: 'small', text: r.recorded_by || '–' }),
        el('td', {}, [r.voided_at ? el('span', { class: 'badge badge-warn', text: 'Voided: ' + r.void_reason }) : el('span', { class: 'badge', text: 'Counted' })]),
        el('td', {}, [r.voided_at ? null : el('button', { type: 'button', class: 'btn btn-sm', text: 'Void…', 'aria-label': 'Void ' + label,
          'data-void': r.kind, 'data-run-id': String(r.id), 'data-event': String(id), 'data-name': runText(r) })]),
      ]));
    });
    if (!page.runs.length) rows.appendChild(el('tr', {}, [el('td', { colspan: '5', class: 'muted', text: 'No runs recorded yet.' })]));
    v.runsMore.hidden = !page.more;
  }

  function renderDeliveries(id, page) {
    var rows = views[id].deliveries.tbody;
    rows.textContent = '';
    page.deliveries.forEach(function (d) {
      var next = DELIVERY_NEXT[d.status];
      rows.appendChild(el('tr', { 'data-delivery': String(d.id) }, [
        el('th', { scope: 'row' }, [d.recipient, d.note ? el('div', { class: 'muted small', text: d.note }) : null]),
        el('td', { text: d.quantity + ' × ' + d.bundle }),
        el('td', {}, [el('span', { class: 'badge' + (d.status === 'delivered' ? ' badge-ok' : d.status === 'ready' ? ' badge-accent' : ''),
          'data-testid': 'ev-delivery-status', text: d.status })]),
        el('td', {}, [el('div', { class: 'row' }, ['ready', 'delivered'].map(function (s) {
          return el('button', { type: 'button', class: 'btn btn-sm', text: s === 'ready' ? 'Mark ready' : 'Mark delivered',
            'aria-label': (s === 'ready' ? 'Mark ready: ' : 'Mark delivered: ') + d.recipient,
            disabled: next !== s, 'data-deliver': s, 'data-delivery-id': String(d.id), 'data-event': String(id) });
        }))]),
      ]));
    });
    if (!page.deliveries.length) rows.appendChild(el('tr', {}, [el('td', { colspan: '4', class: 'muted', text: 'No deliveries yet.' })]));
  }

  // --- actions (delegated) ----------------------------------------------------------------------
  function askVoid(b) {
    var reason = el('input', { type: 'text', id: 'ev-void-reason', maxlength: '500', autocomplete: 'off', required: true });
    C.confirmDialog({
      title: 'Void this run?',
      ok: 'Void run',
      body: [
        el('p', { text: b.dataset.name }),
        el('p', { class: 'small', text: 'A voided run stays in the history with its reason and counts for nothing.' }),
        el('label', { for: 'ev-void-reason', text: 'Reason' }), reason,
      ],
      run: function () {
        if (!reason.value.trim()) return Promise.reject({ message: 'Give a reason.', fields: { reason: ['required'] } });
        var id = b.dataset.event;
        return PH.api(eventPath(id) + '/' + b.dataset.void + '-runs/' + b.dataset.runId + '/void', { method: 'POST', body: { reason: reason.value.trim() } })
          .then(function () { C.say('Run voided.'); loadRecords(id); refreshEvent(id); });
      },
    });
  }

  function askRemoveTarget(b) {
    var id = b.dataset.event;
    C.confirmDialog({
      title: b.dataset.name + ': remove this target?',
      ok: 'Remove target',
      body: [el('p', { text: 'The runs recorded for it stay; only the goal goes.' })],
      run: function () {
        return PH.api(eventPath(id) + '/' + b.dataset.removeTarget + '-targets/' + b.dataset.ref, { method: 'DELETE' })
          .then(function () { C.say('Target removed.'); refreshEvent(id); });
      },
    });
  }

  function moveEvent(b) {
    var id = b.dataset.event;
    b.disabled = true;
    PH.api(eventPath(id), { method: 'PATCH', body: { status: b.dataset.move } }).then(function (e) {
      C.say(e.name + ' is now ' + (STATUS[e.status] || e.status).toLowerCase() + '.');
      refreshEvent(id);
    }).catch(function (e) { b.disabled = false; $('ev-error').textContent = C.errorText(e); });
  }

  function advanceDelivery(b) {
    var id = b.dataset.event;
    b.disabled = true;
    PH.api(eventPath(id) + '/deliveries/' + b.dataset.deliveryId + '/status', { method: 'POST', body: { status: b.dataset.deliver } })
      .then(function (d) { C.say('Delivery to ' + d.recipient + ' is ' + d.status + '.'); loadRecords(id); refreshEvent(id); })
      .catch(function (e) { $('ev-error').textContent = C.errorText(e); loadRecords(id); });
  }

  section.addEventListener('click', function (ev) {
    var b = ev.target.closest('button');
    if (!b || !section.contains(b)) return;
    if (b.dataset.details) toggleDetails(b.dataset.details);
    else if (b.dataset.void) askVoid(b);
    else if (b.dataset.removeTarget) askRemoveTarget(b);
    else if (b.dataset.move) moveEvent(b);
    else if (b.dataset.deliver) advanceDelivery(b);
    else if (b.dataset.when) {
      state.when = b.dataset.when;
      section.querySelectorAll('[data-when]').forEach(function (x) { x.setAttribute('aria-pressed', String(x === b)); });
      loadEvents(false);
    }
  });
  $('ev-more').addEventListener('click', function () { loadEvents(true); });

  $('ev-new-form').appendChild(form({
    submit: 'Create event',
    fields: [
      { name: 'name', label: 'Name', required: true, max: 120, placeholder: 'Winter bake-along' },
      { name: 'starts_on', label: 'Starts on', type: 'date', required: true, value: today() },
      { name: 'ends_on', label: 'Ends on', type: 'date', required: true, value: today() },
      { name: 'description', label: 'Description', type: 'textarea', max: 5000 },
    ],
    onSubmit: function (v) {
      return PH.api(base + '/events', { method: 'POST', body: v }).then(function (e) {
        C.say('Event ' + e.name + ' created.');
        if (!belongs(e)) {
          state.when = 'all';
          section.querySelectorAll('[data-when]').forEach(function (x) { x.setAttribute('aria-pressed', String(x.dataset.when === 'all')); });
        }
        return loadEvents(false).then(function () {
          C.repaint.schedule('events', function () { renderList(); toggleDetails(e.id, true); });
        });
      });
    },
  }));
  buildCatalogueForms();

  // --- live -------------------------------------------------------------------------------------
  function onEvent(e) {
    var d = e.data || {};
    var id = d.event_id;
    var known = id != null && state.events[id];
    switch (e.type) {
      case 'events.progress.updated':
        if (!known) { if (belongs(d)) reloadSoon(); return; }
        var ev = state.events[id];
        ev.name = d.name; ev.status = d.status; ev.starts_on = d.starts_on; ev.ends_on = d.ends_on;
        ev.progress = d; // the figures (EventFigures) plus the event's names: read as figures only
        C.repaint.schedule('ev:' + id, function () { renderSummary(id); renderDetails(id); });
        if (views[id]) loadRecords(id);
        break;
      case 'events.target.completed':
      case 'events.target.reopened':
        C.say((e.type === 'events.target.completed' ? 'Target complete: ' : 'Target reopened: ')
          + (d.target.item || d.target.bundle) + ' (' + d.name + ').');
        break;
      case 'events.event.completed':
        C.say('Event complete: ' + d.name + '.');
        break;
      case 'events.event.reopened':
        C.say('Event reopened: ' + d.name + '.');
        break;
      case 'events.delivery.updated':
        if (known && views[id]) loadRecords(id);
        break;
      default:
        break;
    }
  }

  C.subscribe('events', {
    onEvent: onEvent,
    onReset: function () { loadEvents(false); loadCatalogue(); Object.keys(views).forEach(loadRecords); },
  });
  loadCatalogue();
  loadEvents(false);
})(window);
