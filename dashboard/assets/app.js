// The dashboard's only script: it asks before actions that destroy data,
// and keeps counts and events live from the server's event stream. Every
// value from the stream goes into the page as text, never as HTML.
(function () {
  'use strict';

  document.addEventListener('submit', function (e) {
    var question = e.target.getAttribute('data-confirm');
    if (question && !window.confirm(question)) {
      e.preventDefault();
    }
  });

  var view = document.querySelector('[data-stream]');
  if (!view || !window.EventSource) {
    return;
  }
  var live = document.getElementById('live');
  var source = new EventSource(view.getAttribute('data-stream'));

  // onQueue calls fn on every element that shows something of queue.
  function onQueue(queue, fn) {
    document.querySelectorAll('[data-queue]').forEach(function (el) {
      if (el.dataset.queue === queue) {
        fn(el);
      }
    });
  }

  source.onopen = function () { live.hidden = false; };
  // The browser reconnects by itself, resuming after the last event ID.
  source.onerror = function () { live.hidden = true; };

  source.addEventListener('counts', function (e) {
    var m = JSON.parse(e.data);
    onQueue(m.queue, function (el) {
      if (el.dataset.state) {
        el.textContent = String(m.counts[el.dataset.state]);
      } else if (el.dataset.field === 'rate') {
        el.textContent = m.rate;
      } else if (el.dataset.field === 'paused') {
        el.hidden = !m.paused;
      }
    });
  });

  source.addEventListener('rate', function (e) {
    var m = JSON.parse(e.data);
    onQueue(m.queue, function (el) {
      if (el.dataset.field === 'rate') {
        el.textContent = m.rate;
      }
    });
  });

  // A job's page shows the job as it is: a change of it fetches the page
  // again, once the burst of events that one change makes has come, and
  // puts its content in place of the old (the server escaped it; a parsed
  // document runs no script).
  var job = view.getAttribute('data-job');
  var refresh = 0;
  function refreshJob() {
    fetch(window.location.href, { headers: { Accept: 'text/html' } })
      .then(function (res) { return res.ok ? res.text() : Promise.reject(res.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
        if (fresh) { document.querySelector('main').replaceWith(fresh); }
      })
      .catch(function () { window.location.reload(); });
  }

  source.addEventListener('job', function (e) {
    var ev = JSON.parse(e.data);
    if (job !== null) {
      if (ev.job === job) {
        window.clearTimeout(refresh);
        refresh = window.setTimeout(refreshJob, 200);
      }
      return;
    }
    var body = view.tBodies && view.tBodies[0];
    if (!body) {
      return;
    }
    var row = document.createElement('tr');
    function cell(text, cls) {
      var td = document.createElement('td');
      if (cls) { td.className = cls; }
      if (text) { td.textContent = text; }
      row.appendChild(td);
      return td;
    }
    cell(String(ev.id), 'num');
    cell(ev.time);
    var type = document.createElement('span');
    type.className = 'ev e-' + ev.type;
    type.textContent = ev.type;
    cell('').appendChild(type);
    var jobCell = cell('');
    if (ev.job) {
      var a = document.createElement('a');
      a.href = 'queues/' + encodeURIComponent(ev.queue) + '/jobs/' + encodeURIComponent(ev.job);
      a.className = 'mono';
      a.textContent = ev.job;
      jobCell.appendChild(a);
    }
    cell(ev.name || '');
    cell(ev.detail || '', 'detail');
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > 500) {
      body.deleteRow(-1);
    }
    var none = document.getElementById('no-events');
    if (none) { none.hidden = true; }
  });

  source.addEventListener('failure', function (e) {
    source.close();
    live.hidden = true;
    var m = JSON.parse(e.data);
    var p = document.createElement('p');
    p.className = 'flash error';
    p.textContent = 'Live updates stopped: ' + m.error + ' Reload the page to start again.';
    document.querySelector('main').prepend(p);
  });
}());
