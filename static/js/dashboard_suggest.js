/* The dashboard's suggestion box (signed-in viewers): POST /api/communities/<slug>/suggestions
 * with the session and its CSRF token (docs/jobs.md, "Suggestions"). The server stores it under
 * the viewer's account (`user:<id>`, their username as display name).
 *
 * Idempotent: each submission gets a message id made here, kept until the server has answered,
 * so a retry after a lost answer (a dropped connection) is the same suggestion, never a second
 * one; a new text gets a new id. Refusals are shown where they belong: a text error under the
 * field, the per-viewer rate limit (429) with its wait, anything else under the button. */
(function (root) {
  'use strict';

  var doc = root.document;
  var PH = root.PH;
  var el = PH.el;
  var $ = function (id) { return doc.getElementById(id); };
  var MIN = 3, MAX = 300;

  var s = { base: null, pending: null, sending: false };

  function newId() {
    if (root.crypto && typeof root.crypto.randomUUID === 'function') return root.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    root.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }

  // A chat line has no line breaks (the server refuses control characters): a pasted one is a space.
  function clean(text) { return text.replace(/[\r\n\t]+/g, ' ').trim(); }

  function fieldErrors(messages) {
    var list = $('suggest-error');
    list.replaceChildren.apply(list, messages.map(function (m) { return el('li', { text: m }); }));
    var field = $('suggest-text');
    if (messages.length) field.setAttribute('aria-invalid', 'true');
    else field.removeAttribute('aria-invalid');
  }

  function feedback(text, tone) {
    var p = $('suggest-feedback');
    p.textContent = text;
    p.className = 'small' + (tone ? ' suggest-' + tone : '');
    if (text) PH.announce(text);
  }

  function count() {
    var n = clean($('suggest-text').value).length;
    var c = $('suggest-count');
    c.textContent = n + ' / ' + MAX;
    c.classList.toggle('over', n > MAX);
  }

  function check(text) {
    if (text.length < MIN) return 'Write at least ' + MIN + ' characters.';
    if (text.length > MAX) return 'Keep it to ' + MAX + ' characters (this is ' + text.length + ').';
    return null;
  }

  function seconds(n) { return n + ' second' + (n === 1 ? '' : 's'); }

  function refused(error) {
    var fields = error.fields || {};
    if (error.status === 400 && fields.text) {
      fieldErrors(fields.text.map(function (m) { return 'The suggestion ' + m + '.'; }));
      feedback('Please fix the suggestion and send it again.', 'error');
      $('suggest-text').focus();
      return;
    }
    if (error.status === 429) {
      var wait = error.retryAfter ? ' Try again in ' + seconds(error.retryAfter) + '.' : ' Try again in a minute.';
      feedback('You sent several suggestions in a short time.' + wait, 'warn');
      return;
    }
    if (error.status === 401 || error.status === 403) {
      feedback('Sign in again to suggest (your session ended).', 'error');
      return;
    }
    if (error.status === 0) {
      feedback('Your suggestion could not be sent (no connection). Send it again: it will not be counted twice.', 'error');
      return;
    }
    feedback(error.message || 'Your suggestion could not be sent.', 'error');
  }

  function submit(event) {
    event.preventDefault();
    if (s.sending) return;
    var text = clean($('suggest-text').value);
    var problem = check(text);
    fieldErrors(problem ? [problem] : []);
    if (problem) {
      feedback('', null);
      $('suggest-text').focus();
      return;
    }
    if (!s.pending || s.pending.text !== text) s.pending = { text: text, id: newId() };
    s.sending = true;
    $('suggest-send').disabled = true;
    feedback('Sending…', null);
    PH.api(s.base + '/suggestions', { method: 'POST', body: { text: text, message_id: s.pending.id } })
      .then(function (r) {
        s.pending = null;
        $('suggest-text').value = '';
        count();
        feedback('Thanks! Your suggestion “' + r.text + '” is in. Moderators review suggestions together.', 'ok');
      }, function (error) {
        if (error.status >= 400 && error.status < 500 && error.status !== 429) s.pending = null; // refused for good
        refused(error);
      })
      .then(function () {
        s.sending = false;
        $('suggest-send').disabled = false;
      });
  }

  function start(opts) {
    var form = $('suggest-form');
    if (!form) return; // anonymous: the page shows "Sign in to suggest"
    s.base = opts.base;
    form.addEventListener('submit', submit);
    var text = $('suggest-text');
    text.addEventListener('input', function () { count(); if (text.getAttribute('aria-invalid')) fieldErrors([]); });
    text.addEventListener('keydown', function (e) { // Enter sends, as in chat
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    count();
  }

  root.PHSuggest = { start: start, state: s };
})(window);
