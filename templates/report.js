// Pages, filters and sorts the findings table from the inline data; the filters live in the URL
// fragment (#rule=...&ns=...&action=...&q=...&sort=...&page=...) so a link shows the same view.
(function () {
  'use strict';
  var source = document.getElementById('bulwark-data');
  var body = document.getElementById('rows');
  if (!source || !body) return;
  var data = JSON.parse(source.textContent);
  var PAGE = 50;
  var form = document.getElementById('filters');
  var keys = ['ns', 'rule', 'action', 'q', 'sort', 'page'];
  var state = {};

  function fill(name, values) {
    var select = form.elements[name];
    values.forEach(function (v) {
      var o = document.createElement('option');
      o.value = v[0];
      o.textContent = v[1];
      select.appendChild(o);
    });
  }
  fill('ns', data.namespaces);
  fill('rule', data.rules.map(function (r) { return [r[0], r[0]]; }).sort());
  fill('action', data.actions.slice(0, 3).map(function (a) { return [a, a]; }));

  function object(f) { return data.objects[f[2]]; }
  function describe(o) { return o[0] + ' ' + (o[1] ? o[1] + '/' : '') + o[2]; }
  var column = {
    action: function (f) { return f[0]; },
    rule: function (f) { return data.rules[f[1]][0]; },
    object: function (f) { var o = object(f); return describe(o) + ' ' + o[3]; },
    field: function (f) { return f[3]; },
    message: function (f) { return f[4]; }
  };

  function read() {
    var p = new URLSearchParams(location.hash.slice(1));
    keys.forEach(function (k) { state[k] = p.get(k) || ''; });
    state.page = Math.max(1, parseInt(state.page, 10) || 1);
    ['ns', 'rule', 'action', 'q'].forEach(function (k) { form.elements[k].value = state[k]; });
  }
  function write() {
    var p = new URLSearchParams();
    keys.forEach(function (k) { if (state[k] && !(k === 'page' && state.page === 1)) p.set(k, state[k]); });
    var hash = p.toString();
    history.replaceState(null, '', hash ? '#' + hash : location.pathname + location.search);
  }

  function selected() {
    var q = state.q.toLowerCase();
    var rows = data.findings.filter(function (f) {
      var o = object(f);
      return (!state.rule || data.rules[f[1]][0] === state.rule) &&
        (!state.action || data.actions[f[0]] === state.action) &&
        (!state.ns || (o[1] || '') === (state.ns === '~' ? '' : state.ns)) &&
        (!q || (describe(o) + ' ' + o[3] + ' ' + f[3] + ' ' + f[4]).toLowerCase().indexOf(q) >= 0);
    });
    var sort = state.sort.replace(/^-/, '');
    if (column[sort]) {
      var sign = state.sort.charAt(0) === '-' ? -1 : 1;
      var key = column[sort];
      rows = rows.map(function (f, i) { return [key(f), i, f]; });
      rows.sort(function (a, b) { return (a[0] < b[0] ? -sign : a[0] > b[0] ? sign : a[1] - b[1]); });
      rows = rows.map(function (r) { return r[2]; });
    }
    return rows;
  }

  function cell(tr, text, className) {
    var td = document.createElement('td');
    if (className) td.className = className;
    if (text !== null) td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function line(td, className, label, text) {
    var div = document.createElement('div');
    div.className = className;
    if (label) { var b = document.createElement('b'); b.textContent = label; div.appendChild(b); div.appendChild(document.createTextNode(' ')); }
    div.appendChild(document.createTextNode(text));
    td.appendChild(div);
  }

  function render() {
    var rows = selected();
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    if (state.page > pages) state.page = pages;
    var start = (state.page - 1) * PAGE;
    var fragment = document.createDocumentFragment();
    rows.slice(start, start + PAGE).forEach(function (f) {
      var rule = data.rules[f[1]], o = object(f), action = data.actions[f[0]];
      var tr = document.createElement('tr');
      var badge = document.createElement('span');
      badge.className = 'badge ' + action;
      badge.textContent = action;
      cell(tr, null).appendChild(badge);
      cell(tr, rule[0], 'rule');
      var where = cell(tr, describe(o));
      if (o[3]) line(where, 'loc', '', o[3]);
      cell(tr, f[3], 'field');
      var message = cell(tr, f[4]);
      line(message, 'fix', 'Fix:', rule[2]);
      line(message, 'why', 'Why:', rule[1]);
      fragment.appendChild(tr);
    });
    body.replaceChildren(fragment);
    document.getElementById('shown').textContent = rows.length;
    document.getElementById('page').textContent = 'page ' + state.page + ' of ' + pages;
    document.getElementById('prev').disabled = state.page <= 1;
    document.getElementById('next').disabled = state.page >= pages;
    document.querySelectorAll('th[data-sort]').forEach(function (th) {
      var s = th.getAttribute('data-sort');
      if (state.sort === s) th.setAttribute('aria-sort', 'ascending');
      else if (state.sort === '-' + s) th.setAttribute('aria-sort', 'descending');
      else th.removeAttribute('aria-sort');
    });
    write();
  }

  form.addEventListener('submit', function (e) { e.preventDefault(); });
  form.addEventListener('input', function () {
    ['ns', 'rule', 'action', 'q'].forEach(function (k) { state[k] = form.elements[k].value; });
    state.page = 1;
    render();
  });
  document.getElementById('clear').addEventListener('click', function () {
    keys.forEach(function (k) { state[k] = ''; });
    state.page = 1;
    ['ns', 'rule', 'action', 'q'].forEach(function (k) { form.elements[k].value = ''; });
    render();
  });
  document.getElementById('prev').addEventListener('click', function () { state.page -= 1; render(); });
  document.getElementById('next').addEventListener('click', function () { state.page += 1; render(); });
  document.querySelectorAll('th[data-sort]').forEach(function (th) {
    th.tabIndex = 0;
    function sort() {
      var s = th.getAttribute('data-sort');
      state.sort = state.sort === s ? '-' + s : s;
      state.page = 1;
      render();
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
  });
  window.addEventListener('hashchange', function () { read(); render(); });

  form.hidden = false;
  document.getElementById('pager').hidden = false;
  read();
  render();
})();
