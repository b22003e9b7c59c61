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

  // --- vote ------------------------------------------------------------------------------
  // A signed-in viewer's own choice: GET …/votes/mine (on load, and after a refusal), and the
  // answer of their POST. null: not voted (or not known yet).
  function myVote(v) {
    if (!v || !user) return null;
    var mine = state.myVotes[v.session_id];
    return mine === undefined ? null : mine;
  }

  function remember(sessionId, position) {
    state.myVotes[sessionId] = position;
  }

  function loadMine() {
    if (!user) return Promise.resolve();
    return get('/votes/mine').then(function (m) {
      if (m.session_id !== null && m.option !== null) remember(m.session_id, m.option);
      frames.schedule('vote', renderVote);
    }).catch(function (e) { root.console.warn('votes/mine', e); });
  }

  function isOpen(v) { return v && (v.status === 'open' || v.status === 'frozen'); }

  function countdownText(v) {
    if (!isOpen(v)) return null;
    if (v.status === 'frozen') {
      return v.frozen_remaining_seconds != null ? 'Paused · ' + clock(v.frozen_remaining_seconds) + ' left' : 'Paused';
    }
    if (!v.deadline) return 'Until the target unlocks';
    var left = (Date.parse(v.deadline) - Date.now()) / 1000;
    return left > 0 ? 'Closes in ' + clock(left) : 'Closing…';
  }

  function clock(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function renderCountdown() {
    var text = countdownText(state.vote);
    var c = $('countdown');
    c.hidden = text === null;
    if (text !== null) c.textContent = text;
  }

  function renderVote() {
    var v = state.vote;
    var list = $('vote');
    var meta = $('vote-meta');
    renderCountdown();
    if (!isOpen(v)) {
      list.replaceChildren();
      meta.textContent = 'No vote open. When the next target must be chosen, a vote opens here and in chat.';
      return;
    }
    var total = v.total_votes || 0;
    var mine = myVote(v);
    var voted = mine !== null;
    var frozen = v.status === 'frozen';
    list.replaceChildren.apply(list, v.options.map(function (o) {
      var share = total ? Math.round(100 * o.votes / total) : 0;
      var chosen = voted && (mine === o.position || mine === o.key);
      var name = o.name + (o.level > 1 ? ' (level ' + o.level + ')' : '');
      var button = null;
      if (canVote) {
        var why = frozen ? 'The vote is paused' : voted ? 'You already voted' : null;
        button = el('button', {
          type: 'button', class: 'btn btn-sm ' + (chosen ? 'btn-primary' : ''),
          'data-option': o.position, disabled: why !== null || state.voting,
          'aria-label': chosen ? 'Your vote: ' + name : 'Vote for option ' + o.position + ', ' + name,
          title: why || '', text: chosen ? 'Your vote' : 'Vote',
          onclick: function () { cast(v, o); },
        });
      }
      return el('li', { class: 'vote-option' + (chosen ? ' chosen' : ''), 'data-position': o.position }, [
        el('div', { class: 'vote-row' }, [
          el('span', { class: 'vote-num', 'aria-hidden': 'true', text: String(o.position) }),
          el('span', { class: 'vote-name' }, [
            el('span', { class: 'sr-only', text: 'Option ' + o.position + ': ' }), name,
            chosen ? el('span', { class: 'badge badge-accent', text: '✓ your vote' }) : null,
          ]),
          el('span', { class: 'vote-count num', 'data-testid': 'vote-count', text: PH.fmt(o.votes) + ' · ' + share + '%' }),
          button,
        ]),
        el('div', { class: 'bar bar-sm', 'aria-hidden': 'true' }, [el('div', { class: 'fill', style: 'width:' + share + '%' })]),
      ]);
    }));
    var lines = [];
    if (frozen) lines.push('A moderator paused the vote: the countdown stops until they resume it.');
    lines.push(PH.fmt(total) + ' vote' + (total === 1 ? '' : 's') + '. In chat, type ' + commands(v.options)
      + (canVote ? ', or vote here.' : '.'));
    if (withdrawn(v.options)) {
      lines.push('An option was withdrawn (it was unlocked or can no longer be chosen); the others keep their numbers, so a vote typed a moment ago still counts for what it named.');
    }
    if (voted) lines.push('You voted in this vote (one vote per viewer).');
    meta.textContent = lines.join(' ');
  }

  // The numbers chat types are the options' positions (what `!vote N` and POST …/votes mean).
  // They are 1..n when a vote opens; a position is never reused or shifted while the vote runs
  // (progression/services/voting.py: remove_impossible_options), so after a moderator's change
  // they may skip one: show exactly those, never a renumbering chat would not understand.
  function commands(options) {
    var c = options.map(function (o) { return '!vote ' + o.position; });
    return c.length > 1 ? c.slice(0, -1).join(', ') + ' or ' + c[c.length - 1] : c.join('');
  }

  function withdrawn(options) {
    return options.some(function (o, i) { return o.position !== i + 1; });
  }

  function setVote(v) {
    if (v === undefined) return;
    state.vote = v;
    frames.schedule('vote', renderVote);
  }

  var REFUSALS = {
    already_voted: 'You already voted in this vote.',
    frozen: 'The vote is paused by a moderator: try again when it resumes.',
    closed: 'This vote has closed.',
    no_open_vote: 'There is no open vote right now.',
  };

  function cast(v, option) {
    state.voting = true;
    renderVote();
    var feedback = $('vote-feedback');
    feedback.textContent = 'Sending your vote…';
    PH.api(base + '/votes', { method: 'POST', body: { option: option.position } }).then(function (r) {
      remember(r.session_id, r.option);
      if (state.vote && state.vote.session_id === r.session_id) {
        state.vote.options.forEach(function (o) {
          if (o.position === r.option && r.votes > o.votes) {
            state.vote.total_votes += r.votes - o.votes;
            o.votes = r.votes;
          }
        });
      }
      feedback.textContent = 'Your vote for ' + option.name + ' is counted.';
      PH.announce(feedback.textContent);
    }, function (error) {
      var reason = ((error.fields || {}).reason || [])[0];
      if (reason === 'already_voted') loadMine();
      feedback.textContent = REFUSALS[reason] || (error.status === 403 || error.status === 401
        ? 'Sign in to vote.' : error.message || 'Your vote could not be sent.');
      PH.announce(feedback.textContent);
    }).then(function () {
      state.voting = false;
      frames.schedule('vote', renderVote);
    });
  }

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
