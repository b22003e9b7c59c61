/* The dashboard's vote card: the open vote's options with their counts and shares, the
 * countdown, the commands chat types, and (for a signed-in viewer who may vote) a button per
 * option: POST /api/communities/<slug>/votes with the session and its CSRF token.
 * dashboard.js creates it with the shared page state and passes it the vote snapshots. */
(function (root) {
  'use strict';

  var doc = root.document;
  var PH = root.PH;
  var el = PH.el;
  var $ = function (id) { return doc.getElementById(id); };

  function create(ctx) {
    var state = ctx.state, frames = ctx.frames, base = ctx.base, user = ctx.user, canVote = ctx.canVote;
    function get(path) { return PH.api(base + path); }

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

    return { setVote: setVote, loadMine: loadMine, renderVote: renderVote, renderCountdown: renderCountdown };
  }

  root.PHVote = { create: create };
})(window);
