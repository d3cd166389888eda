// taskorch dashboard: plain JavaScript over the HTTP API (docs/http.md),
// no build step. Views are chosen by the URL fragment (#/runs,
// #/runs/ID, #/graphs, #/graphs/ID, #/schedules, #/pools, #/system,
// #/events); one /events stream keeps every view live. Streams are read with fetch, not
// EventSource: EventSource cannot send the bearer token, which a server
// bound beyond loopback asks for on reads too.
'use strict';

(() => {
  const $ = (selector) => document.querySelector(selector);
  // Where the API is: the page may be nested under a prefix in the
  // application's own server (`/taskorch/`), so every request is made
  // relative to this script's own location (BASE/dashboard/dashboard.js).
  const BASE = new URL('..', document.currentScript.src).pathname;
  const url = (path) => BASE + path.replace(/^\//, '');
  const TOKEN_KEY = 'taskorch.token';
  const MAX_EVENTS = 200;
  const MAX_OUTPUT_LINES = 5000;
  const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'interrupted']);

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  const recentEvents = [];
  let currentView = null;
  let runStream = null; // the output stream of the run shown, if any
  let shownRun = null; // the id of the run shown, if any

  // ---- HTTP ----

  class HttpError extends Error {
    constructor(status, problem) {
      const text = problem && typeof problem === 'object'
        ? `${problem.title || 'error'}: ${problem.detail || ''}`
        : `HTTP ${status}`;
      super(text);
      this.status = status;
      this.problem = problem;
    }
  }

  function authHeaders(extra) {
    const headers = new Headers(extra || {});
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return headers;
  }

  async function api(method, path, body) {
    const init = { method, headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' };
    if (body !== undefined) {
      init.headers.set('Content-Type', 'application/json');
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url(path), init);
    const type = response.headers.get('Content-Type') || '';
    const data = type.includes('json') ? await response.json() : await response.text();
    if (!response.ok) {
      if (response.status === 401) askForToken(data && data.detail);
      throw new HttpError(response.status, data);
    }
    return data;
  }

  // Report a failed action in the message bar; a missing token opens the
  // token form instead (api() already did).
  function report(error) {
    if (error instanceof HttpError && error.status === 401) return;
    showMessage(error.message || String(error));
  }

  function showMessage(text) {
    const bar = $('#message');
    bar.textContent = text;
    bar.hidden = !text;
  }

  // ---- Server-Sent Events over fetch ----

  // Read `path` as an event stream, reconnecting after `retry` ms with
  // Last-Event-ID, until close() or until onEvent returns 'stop'.
  function openStream(path, { onEvent, onOpen, onDown }) {
    let stopped = false;
    let controller = null;
    let lastId = null;
    let retry = 1000;

    const dispatch = (event) => onEvent(event) === 'stop';

    async function readOnce() {
      controller = new AbortController();
      const headers = authHeaders({ Accept: 'text/event-stream' });
      if (lastId !== null) headers.set('Last-Event-ID', lastId);
      const response = await fetch(url(path), { headers, signal: controller.signal, cache: 'no-store' });
      if (!response.ok) {
        const type = response.headers.get('Content-Type') || '';
        const problem = type.includes('json') ? await response.json() : null;
        if (response.status === 401) askForToken(problem && problem.detail);
        throw new HttpError(response.status, problem);
      }
      if (onOpen) onOpen();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let event = { type: 'message', data: [], id: null };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        buffer += decoder.decode(value, { stream: true });
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          let line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (event.id !== null) lastId = event.id;
            if (event.data.length > 0) {
              const finished = dispatch({ type: event.type, data: event.data.join('\n'), id: event.id });
              if (finished) return true;
            }
            event = { type: 'message', data: [], id: null };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? '' : line.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'event') event.type = value;
          else if (field === 'data') event.data.push(value);
          else if (field === 'id') event.id = value;
          else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
        }
      }
    }

    (async () => {
      while (!stopped) {
        let finished = false;
        try {
          finished = await readOnce();
        } catch (error) {
          if (stopped) return;
          if (error instanceof HttpError && error.status === 404) finished = true;
        }
        if (onDown) onDown();
        if (finished || stopped) return;
        await new Promise((resolve) => setTimeout(resolve, retry));
      }
    })();

    return {
      close() {
        stopped = true;
        if (controller) controller.abort();
      },
      restart() {
        // Reconnect now (a new token); the loop picks up from lastId.
        if (controller) controller.abort();
      },
    };
  }

  // ---- formatting ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('data-')) node.setAttribute(key, value);
      else if (key === 'text') node.textContent = value;
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function when(rfc3339) {
    if (!rfc3339) return '';
    const date = new Date(rfc3339);
    return Number.isNaN(date.getTime()) ? rfc3339 : date.toLocaleString();
  }

  function seconds(value) {
    if (value === null || value === undefined) return '';
    if (value < 1) return `${Math.round(value * 1000)} ms`;
    if (value < 120) return `${value.toFixed(1)} s`;
    return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  }

  function statusBadge(status) {
    return el('span', { class: `status ${status}`, text: status });
  }

  // ---- token ----

  function askForToken(reason) {
    $('#token-form').hidden = false;
    showMessage(reason ? `Authorization needed: ${reason}` : 'Authorization needed: enter the bearer token.');
    $('#token-input').focus();
  }

  function setToken(value) {
    token = value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $('#token-button').textContent = token ? 'Token ✓' : 'Token';
    showMessage('');
    events.restart();
    if (runStream) runStream.restart();
    route();
  }

  // A link may carry the token in its fragment (#token=...): taken into
  // this tab's storage and removed from the address bar at once.
  function takeTokenFromFragment() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!match) return;
    token = decodeURIComponent(match[1]);
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', `${location.pathname}#/runs`);
  }

  // ---- runs ----

  function runFilters() {
    const params = new URLSearchParams();
    const status = $('#filter-status').value;
    const name = $('#filter-name').value.trim();
    const label = $('#filter-label').value.trim();
    if (status) params.set('status', status);
    if (name) params.set('name', name);
    if (label) params.append('label', label);
    params.set('limit', '100');
    return params;
  }

  async function loadRuns() {
    let runs;
    try {
      runs = await api('GET', `/runs?${runFilters()}`);
    } catch (error) {
      report(error);
      return;
    }
    const body = $('#runs tbody');
    body.replaceChildren(...runs.map((run) => el('tr', { 'data-run-id': run.id, 'data-status': run.status },
      el('td', { class: 'mono' }, el('a', { href: `#/runs/${run.id}`, text: run.short_id })),
      el('td', { class: 'name', text: run.name }),
      el('td', { class: 'status-cell' }, statusBadge(run.status)),
      el('td', { class: 'wide', text: run.pattern }),
      el('td', { class: 'wide', text: when(run.queued) }),
      el('td', { text: seconds(run.duration) }),
      el('td', { class: 'wide', text: run.exit_code ?? (run.signal ? `signal ${run.signal}` : '') }),
    )));
    $('#runs-empty').hidden = runs.length > 0;
  }

  // ---- one run ----

  function renderRun(run) {
    $('#run-name').textContent = run.name || run.short_id;
    const badge = $('#run-status');
    badge.className = `status ${run.status}`;
    badge.textContent = run.status;
    const terminal = TERMINAL.has(run.status);
    $('#run-cancel').disabled = terminal;
    $('#run-rerun').disabled = !terminal;
    const rows = [
      ['id', run.id],
      ['pattern', run.pattern],
      ['command', run.command],
      ['queued', when(run.queued)],
      ['started', when(run.started)],
      ['finished', when(run.finished)],
      ['duration', seconds(run.duration)],
      ['exit code', run.exit_code],
      ['signal', run.signal],
      ['attempts', run.attempts],
      ['error', run.error],
      ['key', run.key],
      ['labels', Object.entries(run.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ')],
      ['rerun of', run.rerun_of],
    ];
    const details = $('#run-details');
    details.replaceChildren();
    for (const [name, value] of rows) {
      if (value === null || value === undefined || value === '') continue;
      details.append(el('dt', { text: name }), el('dd', { class: name === 'id' ? 'mono' : null, text: value }));
    }
  }

  async function refreshRun(id) {
    try {
      const run = await api('GET', `/runs/${encodeURIComponent(id)}`);
      if (shownRun === id) renderRun(run);
    } catch (error) {
      report(error);
    }
  }

  function showRun(id) {
    if (shownRun === id && runStream) return;
    closeRun();
    shownRun = id;
    const output = $('#output');
    output.replaceChildren();
    $('#run-name').textContent = id;
    $('#run-status').textContent = '';
    $('#run-details').replaceChildren();
    $('#output-state').textContent = 'connecting';
    refreshRun(id);
    runStream = openStream(`/runs/${encodeURIComponent(id)}/output/stream`, {
      onOpen: () => { $('#output-state').textContent = 'live'; },
      onDown: () => {
        if ($('#output-state').textContent === 'live') $('#output-state').textContent = 'reconnecting';
      },
      onEvent: (event) => {
        if (shownRun !== id) return 'stop';
        if (event.type === 'line') {
          const line = JSON.parse(event.data);
          output.append(el('span', { class: line.stream, 'data-seq': line.seq }, `${line.text}\n`));
          while (output.childElementCount > MAX_OUTPUT_LINES) output.firstElementChild.remove();
          output.scrollTop = output.scrollHeight;
          return undefined;
        }
        if (event.type === 'end') {
          const run = JSON.parse(event.data);
          if (run.status) {
            renderRun(run);
            output.append(el('span', { class: 'end' }, `— ${run.status}${run.exit_code !== null && run.exit_code !== undefined ? ` (exit ${run.exit_code})` : ''}\n`));
          }
          $('#output-state').textContent = 'ended';
          return 'stop';
        }
        return undefined;
      },
    });
  }

  function closeRun() {
    if (runStream) runStream.close();
    runStream = null;
    shownRun = null;
  }

  async function cancelRun() {
    const id = shownRun;
    if (!id) return;
    try {
      renderRun(await api('POST', `/runs/${encodeURIComponent(id)}/cancel`));
    } catch (error) {
      report(error);
    }
  }

  async function rerunRun() {
    const id = shownRun;
    if (!id) return;
    try {
      const rerun = await api('POST', `/runs/${encodeURIComponent(id)}/rerun`);
      location.hash = `#/runs/${rerun.id}`;
    } catch (error) {
      report(error);
    }
  }

  // ---- schedules ----

  async function loadSchedules() {
    let schedules;
    try {
      schedules = await api('GET', '/schedules');
    } catch (error) {
      report(error);
      return;
    }
    const body = $('#schedules tbody');
    body.replaceChildren(...schedules.map(scheduleRow));
    $('#schedules-empty').hidden = schedules.length > 0;
  }

  function scheduleRow(s) {
    const toggle = el('button', { type: 'button', class: 'toggle', text: s.enabled ? 'Disable' : 'Enable' });
    toggle.addEventListener('click', () => scheduleAction(s.name, s.enabled ? 'disable' : 'enable'));
    const trigger = el('button', { type: 'button', class: 'trigger', text: 'Run now' });
    trigger.addEventListener('click', () => scheduleAction(s.name, 'trigger'));
    return el('tr', { 'data-schedule': s.name, 'data-enabled': String(s.enabled) },
      el('td', { text: s.name }),
      el('td', { class: 'enabled', text: s.enabled ? 'yes' : 'no' }),
      el('td', { text: s.runs }),
      el('td', { class: 'wide', text: s.failures }),
      el('td', { class: 'wide', text: s.enabled ? when(s.next_due) : '' }),
      el('td', { class: 'wide mono' }, s.last_run ? el('a', { href: `#/runs/${s.last_run}`, text: s.last_run.slice(-8) }) : ''),
      el('td', { class: 'actions-cell' }, toggle, ' ', trigger),
    );
  }

  async function scheduleAction(name, action) {
    try {
      const answer = await api('POST', `/schedules/${encodeURIComponent(name)}/${action}`);
      if (action === 'trigger' && answer.run_id) showMessage('');
      await loadSchedules();
    } catch (error) {
      report(error);
    }
  }

  // ---- graphs ----

  let shownGraph = null;

  async function loadGraphs() {
    let graphs;
    try {
      graphs = await api('GET', '/graphs');
    } catch (error) {
      report(error);
      return;
    }
    $('#graphs tbody').replaceChildren(...graphs.map((g) => el('tr', { 'data-graph': g.id },
      el('td', { class: 'mono' }, el('a', { href: `#/graphs/${g.id}`, text: g.id })),
      el('td', { text: g.name || '' }),
      el('td', { class: 'finished', text: g.finished ? 'yes' : 'no' }),
      el('td', { class: 'wide', text: g.resumed ? 'yes' : 'no' }),
    )));
    $('#graphs-empty').hidden = graphs.length > 0;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    node.append(...children);
    return node;
  }

  // Tasks in columns by depth (the longest chain of dependencies before
  // them), edges from each dependency to its dependant.
  function drawGraph(graph) {
    const tasks = graph.tasks;
    const byName = new Map(tasks.map((t) => [t.name, t]));
    const depth = new Map();
    const depthOf = (task, seen = new Set()) => {
      if (depth.has(task.name)) return depth.get(task.name);
      if (seen.has(task.name)) return 0; // a cycle is refused at submit; never loop
      seen.add(task.name);
      const d = Math.max(-1, ...task.depends_on.map((n) => (byName.has(n) ? depthOf(byName.get(n), seen) : -1))) + 1;
      depth.set(task.name, d);
      return d;
    };
    const columns = [];
    for (const task of tasks) {
      const d = depthOf(task);
      (columns[d] = columns[d] || []).push(task);
    }
    const W = 170; const H = 44; const GAPX = 60; const GAPY = 18;
    const at = new Map();
    columns.forEach((column, x) => column.forEach((task, y) => {
      at.set(task.name, { x: 10 + x * (W + GAPX), y: 10 + y * (H + GAPY) });
    }));
    const width = 20 + columns.length * (W + GAPX) - GAPX;
    const height = 20 + Math.max(1, ...columns.map((c) => c.length)) * (H + GAPY) - GAPY;
    const dag = $('#dag');
    dag.setAttribute('width', String(Math.max(width, 100)));
    dag.setAttribute('height', String(Math.max(height, 60)));
    const edges = [];
    for (const task of tasks) {
      for (const dep of task.depends_on) {
        const from = at.get(dep);
        const to = at.get(task.name);
        if (!from || !to) continue;
        const x1 = from.x + W; const y1 = from.y + H / 2; const x2 = to.x; const y2 = to.y + H / 2;
        const mid = (x1 + x2) / 2;
        edges.push(svg('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
      }
    }
    const nodes = tasks.map((task) => {
      const p = at.get(task.name);
      const label = task.name.length > 22 ? `${task.name.slice(0, 21)}…` : task.name;
      const body = [
        svg('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6 }),
        svg('text', { x: p.x + 8, y: p.y + 18 }, label),
        svg('text', { x: p.x + 8, y: p.y + 35, class: 'state' }, task.status),
      ];
      const title = svg('title', {}, `${task.name}: ${task.status}${task.error ? ` (${task.error})` : ''}`);
      const content = task.run_id ? [svg('a', { href: `#/runs/${task.run_id}` }, ...body)] : body;
      return svg('g', { class: `node ${task.status}`, 'data-task': task.name, 'data-status': task.status }, title, ...content);
    });
    dag.replaceChildren(...edges, ...nodes);
  }

  async function showGraph(id) {
    shownGraph = id;
    try {
      const graph = await api('GET', `/graphs/${encodeURIComponent(id)}`);
      if (shownGraph !== id) return;
      $('#graph-name').textContent = `${graph.info.name || 'graph'} #${graph.info.id}${graph.info.finished ? ' (finished)' : ''}`;
      drawGraph(graph);
    } catch (error) {
      // A graph leaves the API once it finished: keep the last drawing.
      if (error instanceof HttpError && error.status === 404 && $('#dag').childElementCount > 0) {
        if (!$('#graph-name').textContent.endsWith('(finished)')) $('#graph-name').append(' (finished)');
        shownGraph = null;
        return;
      }
      report(error);
    }
  }

  // ---- pools ----

  async function loadPools() {
    let pools;
    try {
      pools = await api('GET', '/pools');
    } catch (error) {
      report(error);
      return;
    }
    $('#pools tbody').replaceChildren(...pools.map((p) => {
      const size = el('input', { type: 'number', min: '1', class: 'pool-size', value: String(p.stats.workers) });
      const resize = el('button', { type: 'button', text: 'Resize' });
      resize.addEventListener('click', async () => {
        try {
          await api('POST', `/pools/${encodeURIComponent(p.name)}/resize`, { workers: Number(size.value) });
          await loadPools();
        } catch (error) {
          report(error);
        }
      });
      return el('tr', { 'data-pool': p.name },
        el('td', { text: p.name }),
        el('td', { text: p.stats.workers }),
        el('td', { text: p.stats.busy }),
        el('td', { text: p.stats.served }),
        el('td', { text: p.stats.restarts }),
        el('td', {}, size, ' ', resize),
      );
    }));
    $('#pools-empty').hidden = pools.length > 0;
  }

  // ---- system ----

  function showHalted(reason) {
    const bar = $('#halted');
    bar.textContent = reason ? `Halted: ${reason}. New work is refused until resumed (System).` : '';
    bar.hidden = !reason;
  }

  async function loadSystem() {
    let status;
    try {
      status = await api('GET', '/system');
    } catch (error) {
      report(error);
      return;
    }
    showHalted(status.halted);
    $('#children tbody').replaceChildren(...status.children.map((c) => el('tr', { 'data-child': c.name },
      el('td', { text: c.name }),
      el('td', { class: `state ${String(c.state).toLowerCase()}`, text: c.state }),
      el('td', { text: c.restarts }),
      el('td', { class: 'wide', text: c.detail || c.last_failure || '' }),
    )));
    const breakers = status.breakers || [];
    $('#breakers tbody').replaceChildren(...breakers.map((b) => el('tr', {},
      el('td', { text: b.key }),
      el('td', { text: b.state }),
      el('td', { text: b.consecutive_failures }),
    )));
    $('#breakers-empty').hidden = breakers.length > 0;
  }

  async function halt() {
    const reason = window.prompt('Halt everything: cancel every run and refuse new work until resumed.\nReason:', 'halted from the dashboard');
    if (reason === null) return;
    if (!window.confirm(`Really halt? Every run is cancelled.\nReason: ${reason}`)) return;
    try {
      const state = await api('POST', '/halt', { reason: reason || 'halted from the dashboard' });
      showHalted(state.halted);
      await loadSystem();
    } catch (error) {
      report(error);
    }
  }

  async function resume() {
    try {
      const state = await api('POST', '/resume');
      showHalted(state.halted);
      await loadSystem();
    } catch (error) {
      report(error);
    }
  }

  // ---- events ----

  function renderEvents() {
    $('#events').replaceChildren(...recentEvents.map((e) => el('li', { 'data-seq': e.seq },
      el('span', { class: 'type', text: e.type }), ' ',
      e.time ? `${when(e.time)} ` : '',
      JSON.stringify(Object.fromEntries(Object.entries(e)
        .filter(([k]) => !['schema', 'seq', 'time', 'time_ms', 'type', 'correlation'].includes(k)))),
    )));
  }

  // Coalesce bursts of events into one refresh per view.
  const pending = new Map();
  function soon(name, action, delay = 250) {
    if (pending.has(name)) return;
    pending.set(name, setTimeout(() => {
      pending.delete(name);
      action();
    }, delay));
  }

  function onEvent(event) {
    if (event.type === 'lagged') {
      // We fell behind: the server dropped us; the stream reconnects and
      // replays. Whatever was missed is re-read.
      soon('view', route);
      return;
    }
    let e;
    try {
      e = JSON.parse(event.data);
    } catch {
      return;
    }
    if (e.type !== 'run_output') {
      recentEvents.unshift(e);
      if (recentEvents.length > MAX_EVENTS) recentEvents.length = MAX_EVENTS;
      if (currentView === 'events') soon('events', renderEvents, 100);
    }
    if (e.type && e.type.startsWith('run_') && e.type !== 'run_output') {
      if (currentView === 'runs') soon('runs', loadRuns);
      if (currentView === 'run' && e.run_id === shownRun) soon('run', () => refreshRun(e.run_id));
    }
    if (e.type && e.type.startsWith('run_') && e.type !== 'run_output') {
      if (currentView === 'graph' && shownGraph !== null) soon('graph', () => showGraph(shownGraph));
      if (currentView === 'graphs') soon('graphs', loadGraphs, 500);
    }
    if (e.type && e.type.startsWith('schedule_') && currentView === 'schedules') soon('schedules', loadSchedules);
    if (e.type === 'halted' || e.type === 'resumed') {
      showHalted(e.type === 'halted' ? e.reason : null);
      if (currentView === 'system') soon('system', loadSystem);
    }
    if ((e.type || '').startsWith('child_') || (e.type || '').startsWith('breaker_')) {
      if (currentView === 'system') soon('system', loadSystem);
    }
  }

  const liveBadge = $('#live');
  const events = openStream('/events', {
    onOpen: () => {
      liveBadge.className = 'live on';
      liveBadge.textContent = 'live';
    },
    onDown: () => {
      liveBadge.className = 'live off';
      liveBadge.textContent = 'offline';
    },
    onEvent,
  });

  // ---- views ----

  function route() {
    const hash = location.hash || '#/runs';
    const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    let view = parts[0] || 'runs';
    if (view === 'runs' && parts[1]) view = 'run';
    if (view === 'graphs' && parts[1]) view = 'graph';
    if (!['runs', 'run', 'graphs', 'graph', 'schedules', 'pools', 'system', 'events'].includes(view)) view = 'runs';
    currentView = view;
    for (const section of document.querySelectorAll('.view')) {
      section.hidden = section.id !== `view-${view}`;
    }
    for (const link of document.querySelectorAll('nav a')) {
      const section = { run: 'runs', graph: 'graphs' }[view] || view;
      link.classList.toggle('current', link.dataset.view === section);
    }
    if (view !== 'run') closeRun();
    if (view === 'runs') loadRuns();
    if (view === 'run') showRun(parts[1]);
    if (view !== 'graph') shownGraph = null;
    if (view === 'graphs') loadGraphs();
    if (view === 'graph') showGraph(parts[1]);
    if (view === 'schedules') loadSchedules();
    if (view === 'pools') loadPools();
    if (view === 'system') loadSystem();
    if (view === 'events') renderEvents();
  }

  // A graph's task states (ready, skipped...) change without run events.
  setInterval(() => {
    if (!document.hidden && currentView === 'graph' && shownGraph !== null) showGraph(shownGraph);
  }, 2000);

  // Schedules' next due times and pools' counters change without events.
  setInterval(() => {
    if (document.hidden) return;
    if (currentView === 'schedules') loadSchedules();
    if (currentView === 'pools') loadPools();
  }, 5000);

  $('#filters').addEventListener('submit', (event) => {
    event.preventDefault();
    loadRuns();
  });
  for (const id of ['#filter-status']) $(id).addEventListener('change', loadRuns);
  $('#run-cancel').addEventListener('click', cancelRun);
  $('#run-rerun').addEventListener('click', rerunRun);
  $('#halt').addEventListener('click', halt);
  $('#resume').addEventListener('click', resume);
  $('#token-button').addEventListener('click', () => {
    const form = $('#token-form');
    form.hidden = !form.hidden;
    if (!form.hidden) $('#token-input').focus();
  });
  $('#token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setToken($('#token-input').value);
    $('#token-input').value = '';
    $('#token-form').hidden = true;
  });
  $('#token-forget').addEventListener('click', () => {
    setToken('');
    $('#token-form').hidden = true;
  });
  window.addEventListener('hashchange', route);

  takeTokenFromFragment();
  $('#token-button').textContent = token ? 'Token ✓' : 'Token';
  route();
})();
