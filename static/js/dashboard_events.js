/* The dashboard's events panel: GET /api/communities/<slug>/events?when=upcoming|past (the same
 * read bots use, docs/production-progress.md), then live from the `events` topic of the one
 * stream (dashboard.js passes every `events.*` envelope to PHEventsPanel.onEvent).
 *
 * Each event shows its dates, status, a "Complete" badge, one bar per production target
 * (batches) and per assembly target (bundles), and its deliveries by status. The label says the
 * API's percent as it is (uncapped: 150 % is half again over); the bar stops at 100 %.
 * `events.progress.updated` carries an event's whole figures, so it replaces them in place; an
 * event this page has not listed yet (new, or moved into the period) refetches the list. */
(function (root) {
  'use strict';

  var doc = root.document;
  var PH = root.PH;
  var el = PH.el;
  var $ = function (id) { return doc.getElementById(id); };
  var PAGE = 20;
  var STATUS = { planned: ['Planned', ''], live: ['Live', 'badge-accent'], closed: ['Closed', ''],
    cancelled: ['Cancelled', 'badge-danger'] };

  var s = { base: null, frames: null, when: 'upcoming', events: [], next: null, loading: 0, timer: null };

  function today() {
    var d = new Date();
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  }
  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function localDate(iso) { // "2026-12-24" as that calendar day, whatever the time zone
    var p = String(iso).split('-').map(Number);
    return new Date(p[0], p[1] - 1, p[2]);
  }

  var dateFormat = root.Intl ? new root.Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' }) : null;
  function dates(e) {
    var a = localDate(e.starts_on), b = localDate(e.ends_on);
    if (!dateFormat) return e.starts_on + (e.ends_on !== e.starts_on ? ' – ' + e.ends_on : '');
    if (e.starts_on === e.ends_on) return dateFormat.format(a);
    return typeof dateFormat.formatRange === 'function' ? dateFormat.formatRange(a, b)
      : dateFormat.format(a) + ' – ' + dateFormat.format(b);
  }

  function pct(value) { // the API's figure, uncapped, without noise: 40 %, 12.5 %, 150 %
    var n = Number(value) || 0;
    return (Math.round(n * 10) / 10).toLocaleString() + ' %';
  }

  function bar(label, done, target, unit, percent, complete) {
    var shown = Math.max(0, Math.min(100, Number(percent) || 0));
    var text = PH.fmt(done) + ' / ' + PH.fmt(target) + ' ' + unit + ' · ' + pct(percent);
    return el('li', { class: 'ev-target' + (complete ? ' complete' : '') }, [
      el('div', { class: 'row ev-target-head' }, [
        el('span', { class: 'ev-target-name', text: label }),
        complete ? el('span', { class: 'badge badge-ok', text: '✓ done' }) : null,
        el('span', { class: 'spacer' }),
        el('span', { class: 'num small muted', 'data-testid': 'ev-figures', text: text }),
      ]),
      el('div', {
        class: 'bar bar-sm' + (complete ? ' full' : ''), role: 'progressbar', 'aria-label': label,
        'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(shown)),
        'aria-valuetext': text,
      }, [el('div', { class: 'fill', style: 'width:' + shown + '%' })]),
    ]);
  }

  function kind(title, summary, rows) {
    if (!rows.length) return null;
    var head = title + ' · ' + summary.complete + ' of ' + summary.targets + ' target'
      + (summary.targets === 1 ? '' : 's') + ' done';
    return el('div', { class: 'ev-kind' }, [
      el('h4', { class: 'ev-kind-title small muted', text: head }),
      el('ul', { class: 'list-plain ev-targets' }, rows),
    ]);
  }

  function deliveries(d) {
    if (!d || !d.total) return el('p', { class: 'small muted', text: 'No deliveries planned yet.' });
    return el('p', { class: 'small ev-deliveries', 'data-testid': 'ev-deliveries' }, [
      el('strong', { text: 'Deliveries: ' }),
      PH.fmt(d.pending) + ' pending · ' + PH.fmt(d.ready) + ' ready · ' + PH.fmt(d.delivered) + ' delivered',
    ]);
  }

  function item(e) {
    var p = e.progress || {};
    var st = STATUS[e.status] || [e.status, ''];
    var production = (p.production || []).map(function (t) {
      return bar(t.item, t.produced_batches, t.target_batches, t.target_batches === 1 ? 'batch' : 'batches', t.percent, t.complete);
    });
    var assembly = (p.assembly || []).map(function (t) {
      return bar(t.bundle, t.assembled, t.target_quantity, 'assembled', t.percent, t.complete);
    });
    var titleId = 'ev-' + e.id + '-name';
    return el('li', { class: 'ev', 'data-event': e.id, 'aria-labelledby': titleId }, [
      el('div', { class: 'row ev-head' }, [
        el('h3', { id: titleId, class: 'ev-name', text: e.name }),
        el('span', { class: 'badge ' + st[1], text: st[0] }),
        p.complete ? el('span', { class: 'badge badge-ok', 'data-testid': 'ev-complete', text: '✓ Complete' }) : null,
      ]),
      el('p', { class: 'small muted ev-dates' }, [el('time', { datetime: e.starts_on, text: dates(e) })]),
      e.description ? el('p', { class: 'small', text: e.description }) : null,
      kind('Production', p.production_summary || {}, production),
      kind('Assembly', p.assembly_summary || {}, assembly),
      production.length || assembly.length ? null : el('p', { class: 'small muted', text: 'No targets set yet.' }),
      deliveries(p.deliveries),
    ]);
  }

  var EMPTY = { upcoming: 'No upcoming events. When the streamer plans one, its progress shows here.',
    past: 'No past events yet.' };

  function render() {
    var list = $('events-list');
    list.replaceChildren.apply(list, s.events.map(item));
    var empty = $('events-empty');
    empty.hidden = s.events.length > 0 || s.loading > 0;
    empty.textContent = EMPTY[s.when];
    $('events-more').hidden = !s.next;
    $('events-panel').setAttribute('aria-busy', String(s.loading > 0));
  }

  function load(more) {
    var when = s.when;
    var q = '/events?when=' + when + '&limit=' + PAGE + (more && s.next ? '&cursor=' + encodeURIComponent(s.next) : '');
    s.loading += 1;
    return PH.api(s.base + q).then(function (r) {
      if (when !== s.when) return;
      s.events = more ? s.events.concat(r.events) : r.events;
      s.next = r.next_cursor;
      $('events-error').textContent = '';
    }, function (error) {
      root.console.warn('events', error);
      if (when === s.when) $('events-error').textContent = 'Events could not be loaded (' + error.message + ').';
    }).then(function () {
      s.loading -= 1;
      s.frames.schedule('events', render);
    });
  }

  // Many events at once (a reset, a burst of new events): one list read.
  function reloadSoon() {
    if (s.timer !== null) return;
    s.timer = root.setTimeout(function () { s.timer = null; load(false); }, 150);
  }

  function belongs(ref) { // does this event belong to the period shown?
    var t = today();
    return s.when === 'past' ? ref.ends_on < t : ref.ends_on >= t;
  }

  function progress(d) {
    var known = null;
    s.events.forEach(function (e) { if (e.id === d.event_id) known = e; });
    if (!known || !belongs(d)) return reloadSoon();
    known.name = d.name;
    known.status = d.status;
    known.starts_on = d.starts_on;
    known.ends_on = d.ends_on;
    var figures = {};
    Object.keys(d).forEach(function (k) {
      if (['name', 'status', 'starts_on', 'ends_on'].indexOf(k) < 0) figures[k] = d[k];
    });
    known.progress = figures;
    s.frames.schedule('events', render);
  }

  function onEvent(envelope) {
    var d = envelope.data || {};
    switch (envelope.type) {
      case 'events.progress.updated':
        progress(d);
        break;
      case 'events.target.completed':
        PH.announce(d.name + ': the ' + (d.target.item || d.target.bundle) + ' target is reached!');
        break;
      case 'events.event.completed':
        PH.announce(d.name + ' is complete: every target is reached!');
        break;
      default: // reopened targets and events, deliveries: their progress.updated follows
        break;
    }
  }

  function setupTabs() {
    doc.querySelectorAll('[data-when]').forEach(function (button) {
      button.addEventListener('click', function () {
        if (s.when === button.dataset.when) return;
        s.when = button.dataset.when;
        s.events = [];
        s.next = null;
        doc.querySelectorAll('[data-when]').forEach(function (b) {
          b.setAttribute('aria-pressed', String(b === button));
        });
        s.frames.schedule('events', render);
        load(false);
      });
    });
    $('events-more').addEventListener('click', function () { load(true); });
  }

  function start(opts) {
    s.base = opts.base;
    s.frames = opts.frames;
    setupTabs();
    return load(false);
  }

  root.PHEventsPanel = { start: start, onEvent: onEvent, reload: reloadSoon, state: s };
})(window);
