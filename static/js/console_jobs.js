/* Console section: jobs. Registers with PHConsole.subscribe (static/js/console.js).
 *
 * The list is the API's (`GET …/jobs`), kept live by the `jobs` topic: every event carries the
 * whole job, and per job only the highest `version` seen is kept (an older event, a late list
 * answer or a copy relayed by another tab never takes the bar back). Nothing is computed here:
 * the percent, stage and counts are the server's. Each job's row is built once and updated in
 * place (a focused Cancel button stays focused while the bar moves), repaints coalesced per
 * animation frame. Start, cancel and retry go through the API, which decides who may (everyone
 * who can open the console may: owners and moderators); its refusals are shown, by field for a
 * job's parameters. Terminal states are announced politely once, progress ticks never. */
(function (root) {
  'use strict';

  var PH = root.PH;
  var C = root.PHConsole;
  var el = PH.el;
  var $ = function (id) { return document.getElementById(id); };
  var section = document.querySelector('.console-jobs');
  if (!C || !section) return;
  var me = section.dataset.user || '';
  var SHOWN = 30; // rows at most: the running and queued ones, then the most recent

  // The kinds a moderator may start and the form for their parameters come from the API
  // (`GET …/job-kinds`, read off each kind's declaration in jobs/pipelines/*): the page keeps no
  // list of its own. The API validates what is sent and refuses by field.
  var KINDS = {};
  var kindsReady = PH.api(C.base + '/job-kinds').then(function (body) {
    (body.kinds || []).forEach(function (k) {
      KINDS[k.kind] = { label: k.label, help: k.description, params: k.params };
      kindSelect.appendChild(el('option', { value: k.kind, text: k.label }));
    });
    renderParams();
  }).catch(function (e) { form.querySelector('[data-for="job"]').textContent = C.errorText(e); });
  var STATUS = {
    queued: ['Queued', ''], running: ['Running', 'badge-accent'], succeeded: ['Succeeded', 'badge-ok'],
    failed: ['Failed', 'badge-danger'], cancelled: ['Cancelled', 'badge-warn'],
  };
  var ACTIVE = { queued: true, running: true };

  var jobs = {}; // id -> the newest job seen
  var rows = {}; // id -> {li, parts}
  var loaded = false;
  var count = 0; // the API's total, plus the jobs created since it was read

  function kindLabel(kind) { return KINDS[kind] ? KINDS[kind].label : kind; }
  function shortId(id) { return String(id).slice(0, 8); }
  function title(job) { return kindLabel(job.kind) + ' #' + shortId(job.id); }

  // --- state ---------------------------------------------------------------------------------
  // Keep `job` if it is newer than what we hold; announce a job reaching its end once.
  function take(job, announce) {
    if (!job || !job.id) return false;
    var held = jobs[job.id];
    if (held && held.version >= job.version) return false;
    if (!held && loaded) count += 1;
    jobs[job.id] = job;
    if (announce && held && ACTIVE[held.status] && !ACTIVE[job.status]) announceEnd(job);
    return true;
  }

  function announceEnd(job) {
    var what = 'Job ' + title(job) + ' ';
    if (job.status === 'succeeded') C.say(what + 'succeeded.');
    else if (job.status === 'cancelled') C.say(what + 'was cancelled in ' + job.stage + '.');
    else if (job.status === 'failed') C.say(what + 'failed' + (job.error ? ' in ' + job.error.stage + ': ' + job.error.message : '.'));
  }

  function load() {
    return PH.api(C.base + '/jobs?limit=' + SHOWN).then(function (page) {
      $('jobs-error').textContent = '';
      var fresh = {};
      (page.items || []).forEach(function (job) { fresh[job.id] = true; take(job, loaded); });
      count = page.count;
      // A job the list no longer names (pruned, or past the page) goes unless it is active.
      Object.keys(jobs).forEach(function (id) {
        if (!fresh[id] && !ACTIVE[jobs[id].status]) delete jobs[id];
      });
      loaded = true;
      schedule();
    }).catch(function (e) { $('jobs-error').textContent = C.errorText(e); });
  }

  function schedule() { C.repaint.schedule('jobs', render); }

  // --- rendering -------------------------------------------------------------------------------
  function ordered() {
    return Object.keys(jobs).map(function (id) { return jobs[id]; }).sort(function (a, b) {
      var active = (ACTIVE[b.status] ? 1 : 0) - (ACTIVE[a.status] ? 1 : 0);
      if (active) return active;
      return a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0;
    }).slice(0, SHOWN);
  }

  function time(iso) {
    if (!iso) return null;
    var d = new Date(iso);
    return el('time', { datetime: iso, title: d.toLocaleString(), text: d.toLocaleTimeString() });
  }

  function startedBy(job) {
    var by = job.started_by;
    if (!by) return 'the system';
    if (by.token != null) return 'bot token ' + by.token;
    return String(by.user) === me ? 'you' : 'user ' + by.user;
  }

  function percentText(p) {
    // The server's percent, shown to one decimal without rounding up (99.96 is not yet 100).
    return (Math.floor(p * 10) / 10) + '%';
  }

  function stageText(job) {
    var stages = job.stages || [];
    var work = stages.filter(function (s) { return s !== 'complete'; });
    if (job.stage === 'complete') return 'Complete';
    var i = work.indexOf(job.stage);
    return 'Stage ' + (i + 1) + ' of ' + work.length + ': ' + job.stage;
  }

  function resultText(job) {
    var r = job.result;
    if (job.status === 'cancelled') {
      if (!r) return 'Cancelled before it started.';
      return 'Partial result: stopped in ' + (r.stopped_in || job.stage)
        + '; finished stages: ' + ((r.finished_stages || []).join(', ') || 'none') + '.';
    }
    if (job.status !== 'succeeded' || !r) return '';
    return 'Result: ' + Object.keys(r).map(function (k) {
      var v = r[k];
      var shown = v && typeof v === 'object' ? (Array.isArray(v) ? v.length : Object.keys(v).length) : v;
      return k.replace(/_/g, ' ') + ' ' + shown;
    }).join(' · ');
  }

  function build(job) {
    var p = {};
    var id = 'job-' + job.id;
    p.kind = el('strong', { class: 'job-kind', id: id + '-t' });
    p.status = el('span', { class: 'badge', 'data-testid': 'job-status' });
    p.cancel = el('button', { type: 'button', class: 'btn btn-sm btn-danger', 'data-act': 'cancel' }, ['Cancel\u2026']);
    p.retry = el('button', { type: 'button', class: 'btn btn-sm', 'data-act': 'retry' }, ['Retry']);
    p.stage = el('span', { class: 'job-stage', 'data-testid': 'job-stage' });
    p.count = el('span', { class: 'num muted', 'data-testid': 'job-count' });
    p.fill = el('div', { class: 'fill' });
    p.bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
      'aria-labelledby': id + '-t', 'data-testid': 'job-bar' }, [p.fill]);
    p.percent = el('span', { class: 'num job-percent', 'aria-hidden': 'true' });
    p.message = el('p', { class: 'job-message small' });
    p.error = el('p', { class: 'errorlist job-error', 'data-testid': 'job-error' });
    p.result = el('p', { class: 'job-result small', 'data-testid': 'job-result' });
    p.actionError = el('p', { class: 'errorlist', role: 'alert' });
    p.meta = el('p', { class: 'muted small job-meta' });
    var li = el('li', { class: 'job', 'data-job-id': job.id, 'data-testid': 'job', 'aria-labelledby': id + '-t' }, [
      el('div', { class: 'row job-head' }, [p.kind, p.status, el('span', { class: 'spacer' }), p.retry, p.cancel]),
      el('div', { class: 'row job-progress' }, [p.stage, el('span', { class: 'spacer' }), p.count]),
      el('div', { class: 'job-barline' }, [p.bar, p.percent]),
      p.message, p.error, p.result, p.actionError, p.meta,
    ]);
    return { li: li, parts: p };
  }

  function paint(row, job) {
    var p = row.parts;
    var li = row.li;
    if (li.dataset.version === String(job.version)) return;
    li.dataset.version = String(job.version);
    li.dataset.status = job.status;
    p.kind.textContent = title(job);
    var cancelling = job.status === 'running' && job.cancel_requested;
    var st = cancelling ? ['Cancelling\u2026', 'badge-warn'] : STATUS[job.status] || [job.status, ''];
    p.status.textContent = st[0];
    p.status.className = 'badge ' + st[1];
    p.status.dataset.status = job.status;
    p.cancel.hidden = !ACTIVE[job.status] || cancelling;
    p.cancel.setAttribute('aria-label', 'Cancel ' + title(job));
    p.retry.hidden = job.status !== 'failed' && job.status !== 'cancelled';
    p.retry.setAttribute('aria-label', 'Retry ' + title(job));
    p.stage.textContent = stageText(job);
    p.count.textContent = job.total ? job.current + ' / ' + job.total : '';
    var pct = Math.max(0, Math.min(100, Number(job.percent) || 0));
    p.fill.style.width = pct + '%';
    p.bar.classList.toggle('full', job.status === 'succeeded');
    p.bar.setAttribute('aria-valuenow', String(pct));
    p.bar.setAttribute('aria-valuetext', percentText(pct) + ', ' + stageText(job)
      + (job.total ? ', ' + job.current + ' of ' + job.total : '') + ', ' + st[0].toLowerCase());
    p.percent.textContent = percentText(pct);
    p.message.textContent = job.message || '';
    p.message.hidden = !job.message;
    p.error.textContent = job.error ? 'Failed in ' + job.error.stage + ': ' + job.error.message : '';
    p.error.hidden = !job.error;
    var result = resultText(job);
    p.result.textContent = result;
    p.result.hidden = !result;
    p.meta.textContent = '';
    [
      'Attempt ' + job.attempt + ' of ' + job.max_attempts, ' · started by ' + startedBy(job),
      ' · created ', time(job.created_at),
      job.started_at ? ' · started ' : null, time(job.started_at),
      job.finished_at ? ' · finished ' : null, time(job.finished_at),
    ].forEach(function (n) { if (n) p.meta.appendChild(typeof n === 'string' ? document.createTextNode(n) : n); });
  }

  function render() {
    var list = $('jobs');
    var shown = ordered();
    var keep = {};
    shown.forEach(function (job, i) {
      keep[job.id] = true;
      var row = rows[job.id] || (rows[job.id] = build(job));
      paint(row, job);
      // Move a row only when it is out of place: moving a node drops the focus inside it.
      if (list.children[i] !== row.li) list.insertBefore(row.li, list.children[i] || null);
    });
    Object.keys(rows).forEach(function (id) {
      if (!keep[id]) { if (rows[id].li.parentNode) rows[id].li.parentNode.removeChild(rows[id].li); delete rows[id]; }
    });
    $('jobs-empty').hidden = !loaded || shown.length > 0;
    $('jobs-count').textContent = loaded ? count + ' job' + (count === 1 ? '' : 's') : '';
    list.setAttribute('aria-busy', loaded ? 'false' : 'true');
  }

  // --- actions ---------------------------------------------------------------------------------
  function act(job, action, button, row) {
    row.parts.actionError.textContent = '';
    button.disabled = true;
    return PH.api(C.base + '/jobs/' + encodeURIComponent(job.id) + '/' + action, { method: 'POST' })
      .then(function (j) {
        take(j, false);
        schedule();
        return j;
      })
      .finally(function () { button.disabled = false; });
  }

  function askCancel(job, button, row) {
    var running = job.status === 'running';
    C.confirmDialog({
      title: 'Cancel ' + title(job) + '?',
      ok: 'Cancel the job',
      body: [el('p', { text: running
        ? 'It stops at its next unit of work. What its finished stages wrote stays; a retry resumes after them.'
        : 'It has not started yet: it is cancelled at once.' })],
      run: function () {
        return act(job, 'cancel', button, row).then(function (j) {
          C.say(j.status === 'cancelled' ? 'Job ' + title(j) + ' cancelled.' : 'Cancel requested for ' + title(j) + '.');
        });
      },
    });
  }

  function retry(job, button, row) {
    act(job, 'retry', button, row).then(function (j) {
      C.say('Job ' + title(j) + ' queued again (attempt ' + j.attempt + ').');
    }).catch(function (e) { row.parts.actionError.textContent = C.errorText(e); });
  }

  $('jobs').addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-act]');
    var li = b && b.closest('li[data-job-id]');
    var job = li && jobs[li.dataset.jobId];
    if (!job) return;
    var row = rows[job.id];
    if (b.dataset.act === 'cancel') askCancel(job, b, row);
    else retry(job, b, row);
  });

  // --- starting a job --------------------------------------------------------------------------
  var form = $('job-form');
  var kindSelect = $('job-kind');

  function fieldId(name) { return 'jp-' + name; }

  function renderParams() {
    var kind = KINDS[kindSelect.value];
    $('job-kind-help').textContent = kind ? kind.help : '';
    var box = $('job-params');
    box.textContent = '';
    (kind ? kind.params : []).forEach(function (f) {
      var id = fieldId(f.name);
      var help = f.help ? el('span', { class: 'help', id: id + '-help', text: f.help }) : null;
      var err = el('span', { class: 'errorlist', id: id + '-err', 'data-field': f.name });
      var input = el('input', {
        id: id, name: f.name, type: f.type === 'int' ? 'number' : 'text',
        inputmode: 'numeric', min: f.min != null ? String(f.min) : null, max: f.max != null ? String(f.max) : null,
        step: f.type === 'int' ? '1' : null, placeholder: f.default != null ? String(f.default) : null,
        'aria-describedby': (help ? id + '-help ' : '') + id + '-err',
      });
      box.appendChild(el('div', { class: 'field' }, [el('label', { for: id, text: f.label }), input, help, err]));
    });
  }

  function clearErrors() {
    form.querySelectorAll('[data-field]').forEach(function (e) { e.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach(function (i) { i.removeAttribute('aria-invalid'); });
    form.querySelector('[data-for="job"]').textContent = '';
  }

  function showFieldError(name, messages) {
    var err = form.querySelector('[data-field="' + name + '"]');
    if (!err) return false;
    err.textContent = [].concat(messages).join(' ');
    var input = name === 'kind' ? kindSelect : $(fieldId(name));
    if (input) input.setAttribute('aria-invalid', 'true');
    return true;
  }

  // The parameters as typed: an empty field is left out (the kind's default applies); anything
  // else goes to the API as it stands, which refuses it by field if it is wrong.
  function collect() {
    var kind = KINDS[kindSelect.value];
    var params = {}, local = {};
    (kind ? kind.params : []).forEach(function (f) {
      var input = $(fieldId(f.name));
      if (input.validity && input.validity.badInput) { local[f.name] = 'Enter a whole number.'; return; }
      var raw = input.value.trim();
      if (raw === '') return;
      if (f.type === 'ids') {
        params[f.name] = raw.split(/[\s,]+/).filter(Boolean).map(function (s) { return /^\d+$/.test(s) ? Number(s) : s; });
      } else {
        params[f.name] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
      }
    });
    return { params: params, local: local };
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearErrors();
    var got = collect();
    var localNames = Object.keys(got.local);
    if (localNames.length) {
      localNames.forEach(function (n) { showFieldError(n, got.local[n]); });
      $(fieldId(localNames[0])).focus();
      return;
    }
    var button = $('job-start');
    button.disabled = true;
    PH.api(C.base + '/jobs', { method: 'POST', body: { kind: kindSelect.value, params: got.params } })
      .then(function (job) {
        take(job, false);
        schedule();
        C.say('Job ' + title(job) + ' started.');
      })
      .catch(function (e) {
        var rest = {};
        var first = null;
        Object.keys(e.fields || {}).forEach(function (k) {
          var name = k === 'kind' ? 'kind' : k.indexOf('params.') === 0 ? k.slice(7).split('.')[0] : null;
          if (name && showFieldError(name, e.fields[k])) { first = first || name; } else { rest[k] = e.fields[k]; }
        });
        form.querySelector('[data-for="job"]').textContent = C.errorText({ message: e.message, fields: rest });
        if (first) (first === 'kind' ? kindSelect : $(fieldId(first))).focus();
      })
      .finally(function () { button.disabled = false; });
  });

  kindSelect.addEventListener('change', function () { clearErrors(); renderParams(); });

  // --- live --------------------------------------------------------------------------------------
  C.subscribe('jobs', {
    onEvent: function (e) { if (take(e.data, true)) schedule(); },
    onReset: function () { kindsReady.then(load); },
  });
  // Read now as well: a tab that follows another tab's connection hears no "open" of its own.
  // (After the kinds: a row is titled with its kind's label.)
  kindsReady.then(load);
})(window);
