/* The OBS overlay: the progression snapshot from the JSON API, then live events from the
 * stream (static/js/stream.js, `progression` topic only). Unlocks go through an AlertQueue
 * (static/js/alert_queue.js): each one of a burst is shown in turn, never replaced.
 * With an overlay key (`?key=` in the page URL) every read carries it; when the key is revoked
 * the stream ends (`stream.revoked`) and the overlay clears itself. */
(function (root) {
  'use strict';

  var body = document.body;
  var slug = body.dataset.community;
  var key = body.dataset.key || '';
  var widgets = (body.dataset.widgets || '').split(',');
  var alertMs = Number(body.dataset.alertMs) || 5000;
  var rootEl = document.querySelector('.ov-root');
  var api = '/api/communities/' + encodeURIComponent(slug);
  var $ = function (id) { return document.getElementById(id); };
  var vote = null;
  var refetchTimer = null;
  var stream = null;
  var stopped = false;
  // Repaints coalesced to animation frames: a chat storm costs one bar repaint per frame.
  var repaint = root.ProgressionStream.frames();

  function text(el, value) { if (el) el.textContent = value; }
  function show(el, on) { if (el) el.hidden = !on; }

  function nodeName(node) {
    if (!node) return '';
    return node.name + (node.level > 1 ? ' · level ' + node.level : '');
  }

  function getJSON(path) {
    var url = api + path + (key ? '?key=' + encodeURIComponent(key) : '');
    return fetch(url, { credentials: 'same-origin' }).then(function (r) {
      if (r.status === 401 || r.status === 404) { stop('refused'); throw new Error('refused'); }
      if (!r.ok) throw new Error(path + ': ' + r.status);
      return r.json();
    });
  }

  function renderProgress(p) {
    if (!p || !$('ov-bar')) return;
    var pct = p.percent == null ? 0 : Math.max(0, Math.min(100, p.percent));
    if (p.target) {
      text($('ov-label'), 'Now unlocking');
      text($('ov-target'), nodeName(p.target));
      text($('ov-numbers'), p.accumulated + ' / ' + p.cost);
    } else {
      text($('ov-label'), p.state === 'waiting_for_vote' ? 'Waiting for the vote' : 'Points banked');
      text($('ov-target'), p.state === 'waiting_for_vote' ? 'Chat chooses what comes next'
        : p.state === 'no_target' ? 'Everything is unlocked!' : 'Choosing the next target…');
      text($('ov-numbers'), p.accumulated + ' points');
    }
    $('ov-fill').style.width = pct + '%';
    $('ov-progress').setAttribute('aria-valuenow', String(Math.round(pct)));
  }

  function renderVote(v) {
    var panel = $('ov-vote');
    if (!panel) return;
    vote = v && (v.status === 'open' || v.status === 'frozen') ? v : null;
    show(panel, !!vote);
    var list = $('ov-options');
    list.textContent = '';
    if (!vote) return;
    var total = vote.total_votes || 0;
    vote.options.forEach(function (o) {
      var share = total ? Math.round(100 * o.votes / total) : 0;
      var li = document.createElement('li');
      li.style.setProperty('--share', share + '%');
      var cmd = document.createElement('span');
      cmd.className = 'ov-cmd';
      cmd.textContent = '!vote ' + o.position;
      var name = document.createElement('span');
      name.className = 'ov-name';
      name.textContent = nodeName(o);
      var count = document.createElement('span');
      count.className = 'ov-count';
      count.textContent = o.votes + ' · ' + share + '%';
      li.append(cmd, name, count);
      list.appendChild(li);
    });
    tick();
  }

  function clock(seconds) {
    var s = Math.max(0, Math.ceil(seconds));
    return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  }

  function tick() {
    var el = $('ov-countdown');
    if (!el || !vote) return;
    if (vote.status === 'frozen') {
      el.textContent = 'paused' + (vote.frozen_remaining_seconds != null
        ? ' · ' + clock(vote.frozen_remaining_seconds) : '');
    } else if (vote.deadline) {
      el.textContent = clock((new Date(vote.deadline).getTime() - Date.now()) / 1000);
    } else {
      el.textContent = 'until the unlock';
    }
  }

  var alerts = root.AlertQueue.create({
    durationMs: alertMs,
    gapMs: 400,
    show: function (a) {
      var el = $('ov-alert');
      if (!el) return;
      text($('ov-alert-name'), a.name);
      el.hidden = false;
      el.classList.remove('ov-alert-in');
      void el.offsetWidth; // restart the animation for the next alert
      el.classList.add('ov-alert-in');
    },
    hide: function () {
      var el = $('ov-alert');
      if (el) { el.classList.remove('ov-alert-in'); el.hidden = true; }
    },
  });

  function refetch() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(load, 250);
  }

  function load() {
    if (stopped) return;
    getJSON('/progression').then(function (s) {
      repaint.schedule('progress', function () { renderProgress(s.progress); });
      repaint.schedule('vote', function () { renderVote(s.vote); });
    }).catch(function (e) { if (!stopped) console.warn(e); });
  }

  function onEvent(e) {
    var d = e.data || {};
    switch (e.type) {
      case 'progression.progress.updated':
      case 'progression.target.set':
        repaint.schedule('progress', function () { renderProgress(d); });
        break;
      case 'progression.vote.started':
      case 'progression.vote.cast':
      case 'progression.vote.frozen':
      case 'progression.vote.unfrozen':
      case 'progression.vote.updated':
        repaint.schedule('vote', function () { renderVote(d); });
        break;
      case 'progression.node.unlocked':
        if (widgets.indexOf('alerts') >= 0) alerts.push({ id: e.id, name: nodeName(d.node) });
        refetch();
        break;
      case 'progression.tree.completed':
        if (widgets.indexOf('alerts') >= 0) alerts.push({ id: e.id, name: 'The whole tree!' });
        refetch();
        break;
      default:
        refetch();
    }
  }

  function stop(reason) {
    if (stopped) return;
    stopped = true;
    alerts.clear();
    if (stream) stream.close();
    rootEl.dataset.stream = 'stopped';
    rootEl.dataset.reason = reason;
    body.classList.add('ov-stopped');
  }

  load();
  setInterval(tick, 250);
  stream = root.ProgressionStream.connect({
    community: slug,
    topics: ['progression'],
    query: key ? { key: key } : undefined,
    onEvent: onEvent,
    onReset: refetch,
    onStatus: function (state, info) {
      if (stopped) return;
      if (state === 'closed' && info && info.reason === 'revoked') { stop('revoked'); return; }
      rootEl.dataset.stream = state;
      // After a drop, the snapshot read says whether the key still opens the overlay (a 401 or
      // 404 stops it; EventSource itself never tells why it failed).
      if (state === 'open' || state === 'reconnecting') refetch();
    },
  });
})(window);
