/* The moderator console's bot tokens and overlay keys (owners only): create (the secret, or
 * the overlay URL, shown once with a copy button), list, revoke with a confirmation. Uses the
 * helpers static/js/console.js shares as window.PHConsole; every call goes through the API. */
(function (root) {
  'use strict';

  var C = root.PHConsole;
  if (!C || !C.canManage) return;
  var PH = root.PH;
  var el = PH.el;
  var base = C.base;
  var $ = function (id) { return document.getElementById(id); };
  var say = C.say;
  var errorText = C.errorText;
  var confirmDialog = C.confirmDialog;

  function copyButton(value, label) {
    return el('button', { type: 'button', class: 'btn btn-sm', text: label, onclick: function (ev) {
      var b = ev.currentTarget;
      var done = function () { b.textContent = 'Copied'; say('Copied to the clipboard.'); };
      if (root.navigator.clipboard) root.navigator.clipboard.writeText(value).then(done, function () { b.textContent = 'Select and copy'; });
    } });
  }

  function showSecret(box, title, value) {
    box.textContent = '';
    box.appendChild(el('p', { text: title + ' It is shown this once: copy it now.' }));
    box.appendChild(el('code', { 'data-testid': 'secret', text: value }));
    box.appendChild(copyButton(value, 'Copy'));
    box.hidden = false;
    box.querySelector('code').focus();
  }

  function renderCredentials(listId, items, kind) {
    var list = $(listId);
    list.textContent = '';
    if (!items.length) list.appendChild(el('li', { class: 'empty', text: kind === 'token' ? 'No token yet.' : 'No overlay key yet.' }));
    items.forEach(function (item) {
      var revoked = !!item.revoked_at;
      list.appendChild(el('li', { 'data-id': String(item.id) }, [
        el('span', { class: revoked ? 'revoked' : '', text: item.name }),
        el('code', { class: 'small muted', text: item.prefix + '…' }),
        item.scopes ? el('span', { class: 'small', text: item.scopes.join(', ') }) : null,
        el('span', { class: 'small muted', text: revoked ? 'revoked' : item.last_used_at ? 'last used ' + new Date(item.last_used_at).toLocaleString() : 'never used' }),
        el('span', { class: 'spacer' }),
        revoked ? null : el('button', { type: 'button', class: 'btn btn-sm btn-danger', 'aria-label': 'Revoke ' + item.name,
          text: 'Revoke', onclick: function () { askRevoke(item, kind); } }),
      ]));
    });
  }

  function askRevoke(item, kind) {
    var path = kind === 'token' ? '/tokens/' : '/overlay-keys/';
    confirmDialog({
      title: 'Revoke ' + item.name + '?',
      ok: 'Revoke',
      body: [el('p', { text: kind === 'token' ? 'The bot using it is refused at once; its open streams end within seconds.'
        : 'The overlay using it stops within seconds and its page answers 404.' })],
      run: function () {
        return PH.api(base + path + item.id, { method: 'DELETE' }).then(function () {
          say(item.name + ' revoked.');
          loadCredentials();
        });
      },
    });
  }

  function loadCredentials() {
    return Promise.all([
      PH.api(base + '/tokens').then(function (t) { renderCredentials('tokens', t, 'token'); }),
      PH.api(base + '/overlay-keys').then(function (k) { renderCredentials('keys', k, 'key'); }),
    ]);
  }

  function createToken(ev) {
    ev.preventDefault();
    var form = ev.target, err = form.querySelector('[data-for="token"]');
    err.textContent = '';
    var scopes = [].slice.call(form.querySelectorAll('input[name="scopes"]:checked')).map(function (i) { return i.value; });
    PH.api(base + '/tokens', { method: 'POST', body: { name: form.elements.name.value.trim(), scopes: scopes } })
      .then(function (r) { form.reset(); showSecret($('token-secret'), 'Token ' + r.name + ' created.', r.token); loadCredentials(); })
      .catch(function (e) { err.textContent = errorText(e); });
  }

  function createKey(ev) {
    ev.preventDefault();
    var form = ev.target, err = form.querySelector('[data-for="key"]');
    err.textContent = '';
    PH.api(base + '/overlay-keys', { method: 'POST', body: { name: form.elements.name.value.trim() } })
      .then(function (r) {
        form.reset();
        showSecret($('key-secret'), 'Overlay key ' + r.name + ' created: put this URL in an OBS browser source (1920×1080).',
          root.location.origin + r.overlay_url);
        loadCredentials();
      })
      .catch(function (e) { err.textContent = errorText(e); });
  }

  $('token-form').addEventListener('submit', createToken);
  $('key-form').addEventListener('submit', createKey);
  C.onAdmin = loadCredentials;
  loadCredentials();
})(window);
