/* The viewer dashboard (/c/<slug>/): a snapshot from the JSON API, then live events from the one
 * stream client (stream.js). Every render goes through ProgressionStream.frames, so a burst of
 * events repaints each part at most once per animation frame. Events that change more than their
 * payload says (an unlock, a relock, a reset) refetch the snapshots they affect. */
(function (root) {
  'use strict';

  var doc = root.document;
  var PH = root.PH;
  var body = doc.body;
  var slug = body.dataset.community;
  var user = body.dataset.user || '';
  var canVote = body.dataset.canVote === '1';
  var base = '/api/communities/' + encodeURIComponent(slug);
  var $ = function (id) { return doc.getElementById(id); };
  var frames = root.ProgressionStream.frames();
  var el = PH.el;

  var state = {
    progress: null, vote: null, nodes: null, scope: 'cycle',
    unlocks: {}, samples: [], myVotes: {}, voting: false, connected: false, rendered: {},
  };
  var ETA_WINDOW_MS = 120000, ETA_MIN_SPAN_MS = 4000, FEED_SIZE = 10;

  function get(path) { return PH.api(base + path); }

  function markReady(part) {
    state.rendered[part] = true;
    if (state.rendered.progress && state.rendered.tree && state.connected && !body.dataset.ready) {
      body.dataset.ready = '1';
      if (root.performance && root.performance.mark) root.performance.mark('ph:live');
    }
  }

  // --- progress ------------------------------------------------------------------------
  var EXPLAIN = {
    waiting_for_vote: 'No target yet: the open vote chooses it. Points keep counting and go to the winner.',
    no_target: 'Choosing the first target: nothing is being unlocked right now. Points are banked for the next target.',
    full: 'Full! The unlock is on its way.',
  };

  function sample(p) {
    var now = root.performance.now();
    var s = state.samples;
    if (s.length && s[s.length - 1].pid !== p.progress_id) s.length = 0;
    s.push({ t: now, acc: p.accumulated, pid: p.progress_id });
    while (s.length > 2 && now - s[0].t > ETA_WINDOW_MS) s.shift();
    if (s.length > 500) s.splice(0, s.length - 500);
  }

  // Time to unlock from the recent rate: points gained over (up to) the last two minutes of
  // progress updates for this target, measured in this browser. No server figure exists, so a
  // page opened a moment ago (or a quiet chat) has no pace yet: it says so instead of guessing.
  // Returns [text, hint].
  function eta(p) {
    if (!p || !p.target || p.cost == null) return ['', ''];
    if (p.state === 'full' || p.accumulated >= p.cost) return ['Unlocking now', ''];
    var none = 'Time to unlock: —';
    var s = state.samples.filter(function (x) { return x.pid === p.progress_id; });
    var span = s.length ? root.performance.now() - s[0].t : 0;
    if (s.length < 2 || span < ETA_MIN_SPAN_MS) return [none, 'estimated once chat has been adding points for a little while'];
    var gained = s[s.length - 1].acc - s[0].acc;
    if (gained <= 0) return [none, 'no new points in the last ' + PH.duration(Math.min(span, ETA_WINDOW_MS) / 1000)];
    var rate = gained / (span / 1000);
    return ['≈ ' + PH.duration((p.cost - p.accumulated) / rate) + ' to unlock', 'at the pace of the last ' + PH.duration(span / 1000)];
  }

  function renderEta() {
    var e = eta(state.progress);
    $('eta').textContent = e[0];
    $('eta-hint').textContent = e[1];
  }

  function renderProgress() {
    var p = state.progress;
    var bar = $('bar'), fill = $('bar-fill');
    var badge = $('target-state');
    if (!p) {
      $('target').textContent = 'No tree yet';
      $('target-explain').textContent = 'This community has no progression tree loaded yet.';
      markReady('progress');
      return;
    }
    $('target').textContent = p.target ? PH.nodeName(p.target)
      : p.state === 'waiting_for_vote' ? 'Waiting for the vote' : 'Choosing the first target';
    var pct = p.percent == null ? 0 : Math.min(100, p.percent);
    fill.style.width = pct + '%';
    bar.setAttribute('aria-valuenow', String(Math.round(pct)));
    bar.setAttribute('aria-valuetext', p.cost == null ? PH.fmt(p.accumulated) + ' points banked'
      : PH.fmt(p.accumulated) + ' of ' + PH.fmt(p.cost) + ' points');
    bar.classList.toggle('full', p.state === 'full');
    $('numbers').textContent = p.cost == null ? PH.fmt(p.accumulated) + ' points banked'
      : PH.fmt(p.accumulated) + ' / ' + PH.fmt(p.cost) + ' points · ' + Math.floor(pct) + '%';
    renderEta();
    $('target-explain').textContent = EXPLAIN[p.state] || '';
    $('up-next').textContent = p.up_next ? 'Up next: ' + PH.nodeName(p.up_next) : '';
    var labels = { filling: ['Filling', 'badge-accent'], full: ['Unlocking', 'badge-ok'],
      waiting_for_vote: ['Vote deciding', 'badge-warn'], no_target: ['No target', ''] };
    var l = labels[p.state] || [p.state, ''];
    badge.textContent = l[0];
    badge.className = 'badge ' + l[1];
    markReady('progress');
  }

  function setProgress(p) {
    if (!p) return;
    state.progress = p;
    sample(p);
    frames.schedule('progress', renderProgress);
  }

  // --- vote (dashboard_vote.js) ------------------------------------------------------------
  var vote = root.PHVote.create({ state: state, frames: frames, base: base, user: user, canVote: canVote });
  var setVote = vote.setVote, loadMine = vote.loadMine, renderCountdown = vote.renderCountdown;

  // --- leaderboard ------------------------------------------------------------------------
  var EMPTY = {
    cycle: 'No points yet for this target: chat to be the first.',
    season: 'No points yet this season.',
    all_time: 'No contributions yet.',
  };
  var leadersTimer = null, leadersAt = 0;

  function loadLeaders() {
    var scope = state.scope;
    leadersAt = Date.now();
    return get('/leaderboard?scope=' + scope + '&limit=10').then(function (l) {
      if (scope !== state.scope) return;
      frames.schedule('leaders', function () {
        var list = $('leaders');
        var empty = $('leaders-empty');
        list.replaceChildren.apply(list, l.entries.map(function (e) {
          return el('li', {}, [
            el('span', { class: 'who', text: e.display_name || e.platform_user_id }),
            el('span', { class: 'pts num', text: PH.fmt(e.points) + ' pts' }),
          ]);
        }));
        empty.hidden = l.entries.length > 0;
        empty.textContent = EMPTY[scope];
      });
    }).catch(function (e) { root.console.warn('leaderboard', e); });
  }

  // Points arrive many times a second while chat is busy: refresh at most every 3 s.
  function leadersSoon() {
    if (leadersTimer !== null) return;
    var wait = Math.max(0, 3000 - (Date.now() - leadersAt));
    leadersTimer = root.setTimeout(function () { leadersTimer = null; loadLeaders(); }, wait);
  }

  function setupTabs() {
    doc.querySelectorAll('[data-scope]').forEach(function (button) {
      button.addEventListener('click', function () {
        state.scope = button.dataset.scope;
        doc.querySelectorAll('[data-scope]').forEach(function (b) {
          b.setAttribute('aria-pressed', String(b === button));
        });
        loadLeaders();
      });
    });
  }

  // --- recent unlocks (history + stream, each once by unlock_id) ----------------------------
  var REASONS = { points: 'by points', forced: 'by a moderator', auto: 'automatically' };

  function addUnlock(u) {
    var id = u.unlock_id != null ? String(u.unlock_id) : 'event:' + u.event_id;
    var known = state.unlocks[id];
    state.unlocks[id] = Object.assign({}, known || {}, u, { id: id });
    frames.schedule('feed', renderFeed);
    return !known;
  }

  function renderFeed() {
    var items = Object.keys(state.unlocks).map(function (k) { return state.unlocks[k]; });
    items.sort(function (a, b) { return Date.parse(b.unlocked_at) - Date.parse(a.unlocked_at) || (b.unlock_id || 0) - (a.unlock_id || 0); });
    items = items.slice(0, FEED_SIZE);
    var list = $('feed');
    list.replaceChildren.apply(list, items.map(function (u) {
      var when = new Date(u.unlocked_at);
      return el('li', { class: 'unlock' + (u.relocked_at ? ' relocked' : ''), 'data-unlock': u.id }, [
        el('span', { class: 'unlock-name', text: PH.nodeName(u.node) }),
        el('span', { class: 'muted small', text: ' ' + (REASONS[u.reason] || u.reason || '') }),
        u.relocked_at ? el('span', { class: 'badge badge-warn', text: 'relocked' }) : null,
        el('time', { class: 'muted small', datetime: u.unlocked_at, text: when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) }),
      ]);
    }));
    $('feed-empty').hidden = items.length > 0;
  }

  function loadUnlocks() {
    return get('/unlocks?limit=' + FEED_SIZE).then(function (r) {
      r.unlocks.forEach(addUnlock);
      frames.schedule('feed', renderFeed);
    }).catch(function (e) { root.console.warn('unlocks', e); });
  }

  // --- tree -------------------------------------------------------------------------------
  function renderTree() {
    var nodes = state.nodes || [];
    var container = $('tree');
    if (!nodes.length) {
      container.replaceChildren(el('p', { class: 'empty', text: 'No tree loaded yet.' }));
      markReady('tree');
      return;
    }
    root.PHTree.render(container, nodes, openNode);
    scrollHint();
    var count = function (s) { return nodes.filter(function (n) { return n.state === s; }).length; };
    $('tree-summary').textContent = nodes.length + ' nodes · ' + (count('unlocked') + count('maxed'))
      + ' unlocked · ' + count('available') + ' available';
    markReady('tree');
  }

  // A graph wider than its card scrolls: say so, rather than let it look cut off at the edge.
  function scrollHint() {
    var tree = $('tree');
    $('tree-scroll-hint').hidden = tree.scrollWidth <= tree.clientWidth + 1;
  }

  function openNode(n) {
    var dialog = $('node-dialog');
    $('node-dialog-title').textContent = n.name;
    var byKey = {};
    (state.nodes || []).forEach(function (x) { byKey[x.key] = x; });
    var prereqs = (n.prerequisites || []).map(function (p) {
      var name = byKey[p.key] ? byKey[p.key].name : p.key;
      return name + (p.level > 1 ? ' (level ' + p.level + ')' : '');
    });
    var effects = (Array.isArray(n.effects) ? n.effects : n.effects ? [n.effects] : []).map(function (e) {
      var rest = Object.keys(e).filter(function (k) { return k !== 'type'; })
        .map(function (k) { return k + ' ' + (typeof e[k] === 'object' ? JSON.stringify(e[k]) : e[k]); });
      return el('li', {}, [el('strong', { text: String(e.type || 'effect') }), rest.length ? ': ' + rest.join(', ') : '']);
    });
    $('node-dialog-body').replaceChildren(
      el('p', {}, [el('span', { class: 'badge tstate ' + n.state, text: root.PHTree.STATES[n.state] || n.state })]),
      n.description ? el('p', { text: n.description }) : null,
      el('p', { text: root.PHTree.levelText(n) + (n.next_cost == null ? ' · complete' : ' · next level costs ' + PH.fmt(n.next_cost) + ' points') }),
      el('p', { text: 'Tier ' + n.tier + (n.category ? ' · ' + n.category : '') }),
      el('p', { text: prereqs.length ? 'Needs: ' + prereqs.join(', ') : 'No prerequisites.' }),
      effects.length ? el('div', {}, [el('p', { text: 'Effects:' }), el('ul', { class: 'effects' }, effects)]) : null
    );
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
  }

  function loadTree() {
    return get('/tree').then(function (t) {
      state.nodes = t.nodes;
      frames.schedule('tree', renderTree);
    }).catch(function (e) { root.console.warn('tree', e); });
  }

  // --- snapshots and stream -------------------------------------------------------------------
  function loadStatus() {
    return get('/progression').then(function (s) {
      if (s.progress) setProgress(s.progress);
      else { state.progress = null; frames.schedule('progress', renderProgress); }
      setVote(s.vote);
    }).catch(function (e) { root.console.warn('progression', e); });
  }

  var refetchTimer = null, refetchParts = {};
  function refetch(parts) {
    parts.forEach(function (p) { refetchParts[p] = true; });
    if (refetchTimer !== null) return;
    refetchTimer = root.setTimeout(function () {
      refetchTimer = null;
      var todo = refetchParts;
      refetchParts = {};
      if (todo.status) loadStatus();
      if (todo.tree) loadTree();
      if (todo.leaders) loadLeaders();
      if (todo.unlocks) loadUnlocks();
    }, 150);
  }
  var ALL = ['status', 'tree', 'leaders', 'unlocks'];

  function onEvent(e) {
    var d = e.data || {};
    if (api.onEventHook) api.onEventHook(e); // the benchmark counts what arrives
    if (e.topic === 'events' || e.type.indexOf('events.') === 0) {
      root.PHEventsPanel.onEvent(e);
      return;
    }
    switch (e.type) {
      case 'progression.progress.updated':
        setProgress(d);
        leadersSoon();
        break;
      case 'progression.target.set':
        setProgress(d);
        PH.announce('New target: ' + PH.nodeName(d.target) + '.');
        refetch(['status', 'tree', 'leaders']);
        break;
      case 'progression.target.waiting':
        setProgress(d);
        setVote(d.vote);
        PH.announce('The vote now chooses the next target.');
        break;
      case 'progression.vote.started':
        setVote(d);
        PH.announce('A vote started: ' + d.options.map(function (o) { return o.position + ', ' + o.name; }).join('; ') + '.');
        break;
      case 'progression.vote.cast':
      case 'progression.vote.updated':
        setVote(d);
        break;
      case 'progression.vote.frozen':
        setVote(d);
        PH.announce('The vote is paused.');
        break;
      case 'progression.vote.unfrozen':
        setVote(d);
        PH.announce('The vote resumed.');
        break;
      case 'progression.vote.cancelled':
        setVote(null);
        PH.announce('The vote was cancelled.');
        refetch(['status']);
        break;
      case 'progression.vote.resolved':
        setVote(null);
        PH.announce('Vote result: ' + PH.nodeName(d.winner) + ' won.');
        refetch(['status', 'tree']);
        break;
      case 'progression.node.unlocked':
        if (addUnlock({ unlock_id: d.unlock_id, event_id: e.id, node: d.node, reason: d.reason, unlocked_at: e.occurred_at })) {
          PH.announce('Unlocked: ' + PH.nodeName(d.node) + '!');
        }
        refetch(['status', 'tree']);
        break;
      case 'progression.tree.completed':
        PH.announce('The whole tree is unlocked!');
        refetch(ALL);
        break;
      default:
        refetch(ALL);
    }
  }

  var everConnected = false, followTimer = null, lastState = null;
  function onStatus(s, info) {
    lastState = s;
    if (s === 'following' && !info.shared) {
      root.clearTimeout(followTimer);
      followTimer = root.setTimeout(function () {
        if (lastState === 'following') onStatus('following', { shared: true });
      }, 1500);
    }
    var shown = PH.showConnection($('conn'), s, info);
    if (shown === 'live') {
      state.connected = true;
      if (everConnected && s === 'open') { refetch(ALL); root.PHEventsPanel.reload(); }
      everConnected = true;
      markReady('stream');
    }
  }

  // The first snapshot comes with the page (progression and tree, as the API gives them);
  // without it (an old cached page), the API.
  function fromPage() {
    var node = doc.getElementById('snapshot');
    if (!node) return false;
    try {
      var snap = JSON.parse(node.textContent);
      if (snap.progression.progress) setProgress(snap.progression.progress);
      else frames.schedule('progress', renderProgress);
      setVote(snap.progression.vote);
      state.nodes = snap.tree;
      frames.schedule('tree', renderTree);
      return true;
    } catch (e) {
      root.console.warn('snapshot', e);
      return false;
    }
  }

  function start() {
    setupTabs();
    if (!fromPage()) {
      loadStatus();
      loadTree();
    }
    loadMine();
    loadLeaders();
    loadUnlocks();
    root.PHEventsPanel.start({ base: base, frames: frames });
    root.PHSuggest.start({ base: base });
    root.ProgressionStream.connect({
      community: slug, topics: ['progression', 'events'], onEvent: onEvent,
      onReset: function () { refetch(ALL); root.PHEventsPanel.reload(); }, onStatus: onStatus,
    });
    root.setInterval(function () {
      renderCountdown();
      if (state.progress) renderEta();
    }, 1000);
    root.addEventListener('resize', function () { frames.schedule('tree-hint', scrollHint); });
    root.addEventListener('offline', function () { PH.showConnection($('conn'), 'reconnecting', { attempt: 99 }); });
  }

  var api = root.PHDashboard = { state: state, frames: frames, onEvent: onEvent, onEventHook: null };
  start();
})(window);
