/* The dashboard and the OBS overlay: a snapshot from the JSON API, then live events from the
 * stream. Any event that changes more than its payload says (an unlock, a reset) refetches the
 * snapshot, so the page can never drift from the server. */
(function (root) {
  'use strict';

  var slug = document.body.dataset.community;
  var api = '/api/communities/' + encodeURIComponent(slug);
  var $ = function (id) { return document.getElementById(id); };
  var refetchTimer = null;

  function getJSON(path) {
    return fetch(api + path, {credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) throw new Error(path + ': ' + r.status);
      return r.json();
    });
  }

  function text(el, value) { if (el) el.textContent = value; }

  function nodeName(node) {
    if (!node) return '–';
    return node.name + (node.level > 1 ? ' (level ' + node.level + ')' : '');
  }

  function renderProgress(p) {
    if (!p) return;
    text($('target'), p.target ? nodeName(p.target)
      : p.state === 'waiting_for_vote' ? 'Waiting for the vote…' : 'Choosing the next target…');
    var pct = p.percent == null ? 0 : p.percent;
    var fill = $('bar-fill');
    if (fill) fill.style.width = Math.min(100, pct) + '%';
    text($('numbers'), p.cost == null ? p.accumulated + ' points banked'
      : p.accumulated + ' / ' + p.cost + ' points (' + pct + '%)');
    text($('up-next'), p.up_next ? 'Up next: ' + nodeName(p.up_next) : '');
  }

  function renderVote(v) {
    var list = $('vote');
    if (!list) return;
    list.innerHTML = '';
    if (!v || (v.status !== 'open' && v.status !== 'frozen')) {
      text($('vote-meta'), 'No vote open.');
      return;
    }
    var total = v.total_votes || 0;
    v.options.forEach(function (o) {
      var li = document.createElement('li');
      var share = total ? Math.round(100 * o.votes / total) : 0;
      li.textContent = o.position + '. ' + o.name + ' — ' + o.votes + ' vote' + (o.votes === 1 ? '' : 's');
      li.style.setProperty('--share', share + '%');
      list.appendChild(li);
    });
    var meta = v.status === 'frozen' ? 'Vote paused by a moderator.'
      : v.deadline ? 'Closes at ' + new Date(v.deadline).toLocaleTimeString() : 'Closes when the target unlocks.';
    text($('vote-meta'), meta + ' Type !vote <number> in chat.');
  }

  function renderLeaders(entries) {
    var list = $('leaders');
    if (!list) return;
    list.innerHTML = '';
    entries.forEach(function (e) {
      var li = document.createElement('li');
      li.textContent = (e.display_name || e.platform_user_id) + ' — ' + e.points;
      list.appendChild(li);
    });
  }

  function renderTree(nodes) {
    var tree = $('tree');
    if (!tree) return;
    tree.innerHTML = '';
    nodes.forEach(function (n) {
      var div = document.createElement('div');
      div.className = 'node ' + n.state;
      div.title = n.description || '';
      div.textContent = n.name + (n.max_level > 1 ? ' ' + n.level + '/' + n.max_level : '');
      tree.appendChild(div);
    });
  }

  function feed(message) {
    var list = $('feed');
    if (list) {
      var li = document.createElement('li');
      li.textContent = new Date().toLocaleTimeString() + ' ' + message;
      list.insertBefore(li, list.firstChild);
      while (list.children.length > 10) list.removeChild(list.lastChild);
    }
    var toast = $('toast');
    if (toast) {
      toast.textContent = message;
      toast.classList.add('show');
      setTimeout(function () { toast.classList.remove('show'); }, 6000);
    }
  }

  function refetch() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(load, 250);
  }

  function load() {
    getJSON('/progression').then(function (s) {
      renderProgress(s.progress);
      renderVote(s.vote);
    }).catch(function (e) { console.warn(e); });
    if ($('leaders')) getJSON('/leaderboard?scope=cycle&limit=10').then(function (l) { renderLeaders(l.entries); });
    if ($('tree')) getJSON('/tree').then(function (t) { renderTree(t.nodes); });
  }

  function onEvent(e) {
    var d = e.data || {};
    switch (e.type) {
      case 'progression.progress.updated':
        renderProgress(d);
        if ($('leaders')) getJSON('/leaderboard?scope=cycle&limit=10').then(function (l) { renderLeaders(l.entries); });
        break;
      case 'progression.target.set':
        renderProgress(d);
        feed('New target: ' + nodeName(d.target) + (d.auto_selected ? ' (the only option)' : ''));
        refetch();
        break;
      case 'progression.vote.started':
      case 'progression.vote.cast':
      case 'progression.vote.frozen':
      case 'progression.vote.unfrozen':
        renderVote(d);
        break;
      case 'progression.target.waiting':
        renderProgress(d);
        renderVote(d.vote);
        feed('The vote chooses the next target');
        break;
      case 'progression.vote.updated':
        renderVote(d);
        feed('Removed from the vote: ' + (d.removed || []).map(nodeName).join(', '));
        break;
      case 'progression.vote.cancelled':
        renderVote(d);
        feed('The vote was cancelled');
        refetch();
        break;
      case 'progression.vote.resolved':
        feed('Vote won by ' + nodeName(d.winner));
        refetch();
        break;
      case 'progression.node.unlocked':
        feed('Unlocked: ' + nodeName(d.node) + '!');
        refetch();
        break;
      case 'progression.tree.completed':
        feed('The whole tree is unlocked!');
        refetch();
        break;
      default:
        refetch();
    }
  }

  function start(opts) {
    load();
    root.ProgressionStream.connect({
      community: slug,
      topics: ['progression'],
      onEvent: onEvent,
      onReset: refetch,
      onStatus: function (state) { text($('status'), state); if (state === 'open') refetch(); },
    });
    return opts;
  }

  root.ProgressionPage = {start: start};
})(window);
