/* The moderator console: every action through the JSON API with the session and its CSRF token
 * (PH.api in app.js), live state from the stream (`progression` and `admin` topics). Anything a
 * change may touch is re-read from the API, so the console never shows a state of its own. */
(function (root) {
  'use strict';

  var PH = root.PH;
  var body = document.body;
  var slug = body.dataset.community;
  var canManage = body.dataset.canManage === '1';
  var base = '/api/communities/' + encodeURIComponent(slug);
  var $ = function (id) { return document.getElementById(id); };
  var el = PH.el;
  var repaint = root.ProgressionStream.frames();
  var vote = null;
  var tree = [];
  var weights = {};

  function errorText(e) {
    var fields = e && e.fields ? Object.keys(e.fields).map(function (k) {
      return k + ': ' + [].concat(e.fields[k]).join(', ');
    }) : [];
    return ((e && e.message) || 'Something went wrong.') + (fields.length ? ' (' + fields.join('; ') + ')' : '');
  }

  function say(message) { PH.announce(message); }

  // --- vote -----------------------------------------------------------------------------------
  var STATUS = { open: 'Open', frozen: 'Frozen', none: 'No vote' };

  function renderVote(v) {
    vote = v && (v.status === 'open' || v.status === 'frozen') ? v : null;
    var status = vote ? vote.status : 'none';
    var badge = $('vote-status');
    badge.dataset.status = status;
    badge.textContent = STATUS[status];
    badge.className = 'badge' + (status === 'open' ? ' badge-ok' : status === 'frozen' ? ' badge-warn' : '');
    $('vote-empty').hidden = !!vote;
    var list = $('vote-options');
    list.textContent = '';
    if (vote) {
      var total = vote.total_votes || 0;
      vote.options.forEach(function (o) {
        var share = total ? Math.round(100 * o.votes / total) : 0;
        list.appendChild(el('li', {}, [
          el('span', { class: 'badge badge-accent num', text: String(o.position) }),
          el('span', { text: PH.nodeName(o) }),
          el('span', { class: 'num', text: o.votes + ' vote' + (o.votes === 1 ? '' : 's') + ' · ' + share + '%' }),
          el('span', { class: 'share', 'aria-hidden': 'true' }, [el('span', { style: 'width:' + share + '%' })]),
        ]));
      });
    }
    document.querySelectorAll('[data-vote]').forEach(function (b) {
      var action = b.dataset.vote;
      b.disabled = action === 'start' ? !!vote : action === 'close' ? !vote
        : action === 'freeze' ? status !== 'open' : status !== 'frozen';
    });
    tick();
  }

  function tick() {
    var c = $('vote-countdown');
    if (!vote) { c.hidden = true; return; }
    c.hidden = false;
    if (vote.status === 'frozen') {
      c.textContent = 'paused' + (vote.frozen_remaining_seconds != null ? ' · ' + PH.duration(vote.frozen_remaining_seconds) + ' left' : '');
    } else if (vote.deadline) {
      c.textContent = PH.duration((new Date(vote.deadline).getTime() - Date.now()) / 1000) + ' left';
    } else {
      c.textContent = 'until the unlock';
    }
  }

  function voteAction(action, button) {
    $('vote-error').textContent = '';
    button.disabled = true;
    PH.api(base + '/votes/' + action, { method: 'POST' }).then(function (r) {
      var done = { start: 'Vote started.', close: 'Vote closed' + (r && r.winner ? ': ' + r.winner.key + ' won.' : '.'),
        freeze: 'Vote frozen.', unfreeze: 'Vote unfrozen.' }[action];
      say(done);
      loadStatus();
    }).catch(function (e) { $('vote-error').textContent = errorText(e); loadStatus(); });
  }

  // --- progress ---------------------------------------------------------------------------------
  function renderProgress(p) {
    if (!p) { $('target').textContent = 'The season has not started yet.'; return; }
    $('target').textContent = p.target ? PH.nodeName(p.target)
      : p.state === 'waiting_for_vote' ? 'Waiting for the vote (points are banked)'
      : 'No target (points are banked)';
    var pct = p.percent == null ? 0 : Math.min(100, p.percent);
    $('bar-fill').style.width = pct + '%';
    $('bar').setAttribute('aria-valuenow', String(Math.round(pct)));
    $('numbers').textContent = p.cost == null ? PH.fmt(p.accumulated) + ' points banked'
      : PH.fmt(p.accumulated) + ' / ' + PH.fmt(p.cost) + ' points (' + pct + '%)';
  }

  function loadStatus() {
    return PH.api(base + '/progression').then(function (s) {
      repaint.schedule('progress', function () { renderProgress(s.progress); });
      repaint.schedule('vote', function () { renderVote(s.vote); });
    }).catch(function (e) { $('vote-error').textContent = errorText(e); });
  }

  // --- tree ---------------------------------------------------------------------------------------
  function byKey(key) { return tree.filter(function (n) { return n.key === key; })[0]; }

  // Unlocked nodes that need `key` (directly or through another): a preview of what a relock
  // takes along; the server's answer (409 with `dependents`) is the authority.
  function dependentsOf(key) {
    var found = [], frontier = [key];
    while (frontier.length) {
      var k = frontier.shift();
      tree.forEach(function (n) {
        if (n.level > 0 && found.indexOf(n.key) < 0 && n.key !== key
            && n.prerequisites.some(function (p) { return p.key === k; })) {
          found.push(n.key);
          frontier.push(n.key);
        }
      });
    }
    return found;
  }

  function unmetFor(node) {
    return node.prerequisites.filter(function (p) {
      var req = byKey(p.key);
      return !req || req.level < p.level;
    }).map(function (p) { return p.key + ' level ' + p.level; });
  }

  function renderTree() {
    var rows = $('nodes');
    var filter = ($('node-filter').value || '').toLowerCase();
    rows.textContent = '';
    var shown = tree.filter(function (n) {
      return !filter || n.name.toLowerCase().indexOf(filter) >= 0 || n.key.indexOf(filter) >= 0;
    });
    if (!shown.length) rows.appendChild(el('tr', {}, [el('td', { colspan: '5', class: 'empty', text: tree.length ? 'No node matches.' : 'No tree loaded yet.' })]));
    shown.forEach(function (n) {
      var actions = el('div', { class: 'row' }, [
        n.level < n.max_level ? el('button', { type: 'button', class: 'btn btn-sm', 'data-node': n.key, 'data-act': 'unlock',
          'aria-label': 'Force-unlock ' + n.name, text: 'Force unlock' }) : null,
        n.level > 0 ? el('button', { type: 'button', class: 'btn btn-sm btn-danger', 'data-node': n.key, 'data-act': 'relock',
          'aria-label': 'Relock ' + n.name, text: 'Relock' }) : null,
      ]);
      rows.appendChild(el('tr', { 'data-key': n.key }, [
        el('th', { scope: 'row' }, [n.name, el('div', { class: 'muted small', text: n.key })]),
        el('td', { class: 'num', text: String(n.tier) }),
        el('td', { class: 'num', text: n.level + ' / ' + n.max_level }),
        el('td', {}, [el('span', { class: 'badge', text: n.state })]),
        el('td', {}, [actions]),
      ]));
    });
  }

  function loadTree() {
    return PH.api(base + '/tree').then(function (t) {
      tree = t.nodes || [];
      repaint.schedule('tree', renderTree);
    });
  }

  // --- the confirmation dialog ----------------------------------------------------------------
  // confirm({title, body: [nodes], ok, run(form) -> Promise}): resolves when `run` succeeds; an
  // error is shown in the dialog (which stays open) so the moderator can adjust and retry.
  function confirmDialog(opts) {
    var dialog = $('confirm');
    $('confirm-title').textContent = opts.title;
    var bodyEl = $('confirm-body');
    bodyEl.textContent = '';
    (opts.body || []).forEach(function (n) { if (n) bodyEl.appendChild(n); });
    $('confirm-error').textContent = '';
    var ok = $('confirm-ok');
    ok.textContent = opts.ok || 'Confirm';
    ok.disabled = false;
    function submit(ev) {
      ev.preventDefault();
      ok.disabled = true;
      opts.run(bodyEl).then(function () {
        dialog.close();
      }).catch(function (e) {
        ok.disabled = false;
        $('confirm-error').textContent = errorText(e);
        if (opts.onError) opts.onError(e, bodyEl);
      });
    }
    ok.onclick = submit;
    $('confirm-cancel').onclick = function (ev) { ev.preventDefault(); dialog.close(); };
    dialog.showModal();
    var first = bodyEl.querySelector('input');
    (first || $('confirm-cancel')).focus();
  }

  function listOf(items) { return el('ul', {}, items.map(function (t) { return el('li', { text: t }); })); }

  function askForceUnlock(node) {
    var unmet = unmetFor(node);
    var ignore = el('input', { type: 'checkbox', id: 'ignore-prereq', name: 'ignore' });
    confirmDialog({
      title: 'Force-unlock ' + node.name + ' level ' + (node.level + 1) + '?',
      ok: 'Force unlock',
      body: [
        el('p', { text: 'It unlocks now without spending points. If it is the current target, its points carry over to what comes next.' }),
        unmet.length ? el('p', { text: 'Its prerequisites are not met yet:' }) : null,
        unmet.length ? listOf(unmet) : null,
        el('label', { class: 'row' }, [ignore, ' Unlock even if prerequisites are unmet']),
      ],
      run: function () {
        return PH.api(base + '/nodes/' + encodeURIComponent(node.key) + '/force-unlock', {
          method: 'POST', body: { ignore_prerequisites: ignore.checked },
        }).then(function (r) { say('Unlocked ' + node.name + ' level ' + r.level + '.'); refreshAll(); });
      },
    });
  }

  function askRelock(node) {
    var deps = dependentsOf(node.key).map(function (k) { var n = byKey(k); return n ? n.name + ' (' + k + ')' : k; });
    var cascade = el('input', { type: 'checkbox', id: 'relock-cascade', name: 'cascade', checked: deps.length ? true : null });
    var depsBox = el('div', {}, deps.length ? [el('p', { text: 'These unlocked nodes depend on it and are relocked with it:' }), listOf(deps)]
      : [el('p', { text: 'No unlocked node depends on it.' })]);
    confirmDialog({
      title: 'Relock ' + node.name + ' level ' + node.level + '?',
      ok: 'Relock',
      body: [depsBox, el('label', { class: 'row' }, [cascade, ' Also relock the nodes that depend on it'])],
      run: function () {
        return PH.api(base + '/nodes/' + encodeURIComponent(node.key) + '/relock', {
          method: 'POST', body: { cascade: cascade.checked },
        }).then(function (r) {
          say('Relocked ' + r.relocked.map(function (x) { return x.key; }).join(', ') + '.');
          refreshAll();
        });
      },
      onError: function (e) {
        var named = e.fields && e.fields.dependents;
        if (named) {
          depsBox.textContent = '';
          depsBox.appendChild(el('p', { text: 'These unlocked nodes depend on it:' }));
          depsBox.appendChild(listOf([].concat(named)));
          cascade.checked = true;
          $('confirm-error').textContent = 'Confirm again to relock them too.';
        }
      },
    });
  }

  function askReset() {
    var typed = el('input', { type: 'text', id: 'reset-confirm', autocomplete: 'off', 'aria-describedby': 'reset-help' });
    confirmDialog({
      title: 'Start a new season?',
      ok: 'Start a new season',
      body: [
        el('p', { text: 'Every unlock of this season is set aside and the tree starts again from nothing. History and all-time totals are kept. Open votes are cancelled.' }),
        el('label', { for: 'reset-confirm', id: 'reset-help', text: 'Type the community\u2019s slug (' + slug + ') to confirm' }),
        typed,
      ],
      run: function () {
        if (typed.value.trim() !== slug) return Promise.reject({ message: 'Type ' + slug + ' to confirm.' });
        return PH.api(base + '/season/reset', { method: 'POST' }).then(function (r) {
          say('Season ' + r.season + ' started.');
          refreshAll();
        });
      },
    });
  }

  // --- settings and weights ---------------------------------------------------------------------
  function loadSettings() {
    return PH.api(base + '/settings').then(function (s) {
      var form = $('settings-form');
      ['vote_options', 'vote_duration_seconds', 'vote_window_seconds', 'rollover_cap'].forEach(function (k) {
        form.elements[k].value = s[k] == null ? '' : s[k];
      });
      weights = s.weights;
      var rows = $('weights');
      rows.textContent = '';
      Object.keys(weights).forEach(function (m) {
        var id = 'w-' + m;
        rows.appendChild(el('tr', {}, [
          el('th', { scope: 'row' }, [el('label', { for: id, text: m })]),
          el('td', {}, [el('input', { id: id, name: m, type: 'number', min: '0', step: '0.0001', value: weights[m], inputmode: 'decimal' })]),
        ]));
      });
    });
  }

  function saveSettings(ev) {
    ev.preventDefault();
    var form = ev.target, out = {}, err = form.querySelector('[data-for="settings"]');
    err.textContent = '';
    ['vote_options', 'vote_duration_seconds', 'vote_window_seconds', 'rollover_cap'].forEach(function (k) {
      var raw = form.elements[k].value.trim();
      out[k] = raw === '' ? null : Number(raw);
    });
    PH.api(base + '/settings', { method: 'PATCH', body: out })
      .then(function () { say('Settings saved.'); loadSettings(); })
      .catch(function (e) { err.textContent = errorText(e); });
  }

  function saveWeights(ev) {
    ev.preventDefault();
    var form = ev.target, err = form.querySelector('[data-for="weights"]');
    err.textContent = '';
    var changed = Object.keys(weights).filter(function (m) { return form.elements[m].value !== weights[m]; });
    Promise.all(changed.map(function (m) {
      return PH.api(base + '/weights/' + encodeURIComponent(m), { method: 'PUT', body: { weight: form.elements[m].value } });
    })).then(function () { say(changed.length ? 'Weights saved.' : 'No weight changed.'); loadSettings(); })
      .catch(function (e) { err.textContent = errorText(e); });
  }

  // --- live -------------------------------------------------------------------------------------
  var refreshTimer = null;
  function refreshAll() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () { loadStatus(); loadTree(); }, 150);
  }

  function onEvent(e) {
    var d = e.data || {};
    switch (e.type) {
      case 'progression.progress.updated':
        repaint.schedule('progress', function () { renderProgress(d); });
        break;
      case 'progression.vote.started':
      case 'progression.vote.cast':
      case 'progression.vote.frozen':
      case 'progression.vote.unfrozen':
      case 'progression.vote.updated':
        repaint.schedule('vote', function () { renderVote(d); });
        if (e.type !== 'progression.vote.cast') say('Vote ' + d.status + '.');
        break;
      case 'progression.vote.resolved':
        say('The vote is closed' + (d.winner ? ': ' + PH.nodeName(d.winner) + ' won.' : '.'));
        refreshAll();
        break;
      case 'progression.node.unlocked':
        say('Unlocked: ' + PH.nodeName(d.node) + '.');
        refreshAll();
        break;
      default:
        if (e.topic === 'admin' && root.PHConsole.onAdmin) root.PHConsole.onAdmin(e);
        if (e.topic && e.topic !== 'progression' && e.topic !== 'admin') {
          dispatch(e);
          return;
        }
        refreshAll();
    }
  }

  /* Console sections for other topics (static/js/console_<section>.js) register here:
   *   PHConsole.subscribe(topic, {onEvent(envelope), onReset()})
   * onEvent gets every event of that topic; onReset runs when the stream (re)opens or resets
   * (re-read your state from the API then). One stream connection serves the whole console. */
  var sections = {};
  function subscribe(topic, handlers) {
    (sections[topic] = sections[topic] || []).push(handlers);
  }
  function dispatch(e) {
    (sections[e.topic] || []).forEach(function (h) { if (h.onEvent) h.onEvent(e); });
  }
  function resetSections() {
    Object.keys(sections).forEach(function (t) {
      sections[t].forEach(function (h) { if (h.onReset) h.onReset(); });
    });
  }

  // Shared with static/js/console_credentials.js (tokens and overlay keys, owners only).
  root.PHConsole = {
    base: base, slug: slug, canManage: canManage, confirmDialog: confirmDialog, errorText: errorText,
    say: say, onAdmin: null, subscribe: subscribe, repaint: repaint,
  };

  document.querySelectorAll('[data-vote]').forEach(function (b) {
    b.addEventListener('click', function () { voteAction(b.dataset.vote, b); });
  });
  $('nodes').addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-node]');
    if (!b) return;
    var node = byKey(b.dataset.node);
    if (node) (b.dataset.act === 'unlock' ? askForceUnlock : askRelock)(node);
  });
  $('node-filter').addEventListener('input', function () { repaint.schedule('tree', renderTree); });
  $('reset-season').addEventListener('click', askReset);
  $('settings-form').addEventListener('submit', saveSettings);
  $('weights-form').addEventListener('submit', saveWeights);

  loadStatus();
  loadTree();
  loadSettings();
  setInterval(tick, 1000);
  // A second tab follows the first tab's stream (stream.js); the leader says nothing while it
  // stays open, so a follower that heard no news for a moment shows the shared stream as live
  // (as the dashboard does).
  var lastState = null, followTimer = null;
  function onStatus(state, info) {
    lastState = state;
    if (state === 'following' && !info.shared) {
      clearTimeout(followTimer);
      followTimer = setTimeout(function () {
        if (lastState === 'following') onStatus('following', { shared: true });
      }, 1500);
    }
    PH.showConnection($('conn'), state, info);
    if (state === 'open') { refreshAll(); resetSections(); }
  }

  // Section scripts load after this one (console.html) and subscribe synchronously; the
  // connection starts once the document is parsed, when every section is registered. (Not on
  // the next task: while the parser waits for a section's script to download, a timer already
  // runs, and the stream would open without that section's topics.)
  function connect() {
    root.ProgressionStream.connect({
      community: slug,
      topics: ['progression', 'admin'].concat(Object.keys(sections)),
      onEvent: onEvent,
      onReset: function () { refreshAll(); resetSections(); },
      onStatus: onStatus,
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', connect);
  else setTimeout(connect, 0);
})(window);
