/* Shared page helpers (every page that extends base.html may load it): a JSON API client that
 * sends the session's CSRF token, polite screen-reader announcements, the connection badge and
 * small DOM and number formatting helpers. No framework: window.PH. */
(function (root) {
  'use strict';

  var doc = root.document;

  function cookie(name) {
    var found = null;
    (doc.cookie || '').split(';').forEach(function (part) {
      var i = part.indexOf('=');
      if (i > 0 && part.slice(0, i).trim() === name) found = decodeURIComponent(part.slice(i + 1).trim());
    });
    return found;
  }

  /* fetch JSON from the API; rejects with {status, code, message, fields} (the API's error shape),
   * plus retryAfter (seconds) when the server sent Retry-After (a 429). No answer at all (offline,
   * connection dropped) rejects with status 0 and code "network": the request may or may not have
   * reached the server, so only an idempotent request should be sent again. */
  function api(path, options) {
    options = options || {};
    var headers = { Accept: 'application/json' };
    var init = { method: options.method || 'GET', credentials: 'same-origin', headers: headers };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (init.method !== 'GET') {
      var token = cookie('csrftoken');
      if (token) headers['X-CSRFToken'] = token;
    }
    return root.fetch(path, init).catch(function () {
      throw { status: 0, code: 'network', message: 'No answer from the server.', fields: {} };
    }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (response.ok) return body;
        var error = (body && body.error) || {};
        var retryAfter = Number(response.headers.get('Retry-After'));
        throw {
          status: response.status,
          code: error.code || 'http_' + response.status,
          message: error.message || 'The server answered ' + response.status + '.',
          fields: error.fields || {},
          retryAfter: retryAfter > 0 ? retryAfter : null,
        };
      });
    });
  }

  /* Polite announcement for screen readers (the #announcer live region in base.html). Messages
   * within the same frame are joined; the region is cleared first so a repeat is read again. */
  var queued = [];
  function announce(message) {
    var region = doc.getElementById('announcer');
    if (!region || !message) return;
    queued.push(message);
    if (queued.length > 1) return;
    region.textContent = '';
    root.setTimeout(function () {
      region.textContent = queued.join(' ');
      queued = [];
    }, 50);
  }

  /* The stream's states (stream.js onStatus) as the three a viewer cares about. */
  var LABELS = { live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline', connecting: 'Connecting…' };
  function connectionState(state, info) {
    info = info || {};
    if (state === 'open') return 'live';
    // Another tab of this browser holds the connection and relays its events here; this tab
    // only hears that tab's *next* status, so the page treats "following" as live after a
    // short grace (dashboard.js), and as connecting until then.
    if (state === 'following') return info.shared ? 'live' : 'connecting';
    if (state === 'closed' || state === 'revoked' && info.remaining && !info.remaining.length) return 'offline';
    if (root.navigator && root.navigator.onLine === false) return 'offline';
    if (state === 'reconnecting' || (state === 'connecting' && info.attempt > 0)) {
      return info.attempt >= 4 ? 'offline' : 'reconnecting';
    }
    if (state === 'connecting') return 'connecting';
    return null; // revoked with topics left: unchanged
  }

  function showConnection(el, state, info) {
    var shown = connectionState(state, info);
    if (!el || !shown) return shown;
    var previous = el.dataset.state;
    el.dataset.state = shown;
    var text = LABELS[shown];
    if (shown !== 'live' && info && info.delay) text += ' (retrying in ' + Math.ceil(info.delay / 1000) + ' s)';
    el.textContent = text;
    el.setAttribute('aria-label', 'Live updates: ' + LABELS[shown]);
    if (previous && previous !== shown && (shown === 'offline' || previous === 'offline' || previous === 'reconnecting' && shown === 'live')) {
      announce(shown === 'live' ? 'Live updates are back.' : 'Live updates ' + LABELS[shown].toLowerCase());
    }
    return shown;
  }

  function el(tag, attrs, children) {
    var node = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : v);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
    });
    return node;
  }

  var numberFormat = root.Intl ? new root.Intl.NumberFormat() : null;
  function fmt(n) { return n == null ? '–' : numberFormat ? numberFormat.format(n) : String(n); }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + ' s';
    var m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + ' min' + (s && m < 10 ? ' ' + s + ' s' : '');
    var h = Math.floor(m / 60);
    return h + ' h ' + (m % 60) + ' min';
  }

  function nodeName(node) {
    if (!node) return '–';
    return node.name + (node.level > 1 ? ' (level ' + node.level + ')' : '');
  }

  root.PH = {
    api: api, announce: announce, cookie: cookie, connectionState: connectionState,
    showConnection: showConnection, el: el, fmt: fmt, duration: duration, nodeName: nodeName,
  };
})(window);
