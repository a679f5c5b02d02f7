// A tenant's page: status, versions (upload, activate, roll back), live charts, the
// plugin's log, a dry run, limits and config.

import { api, tenantPath, describe, ApiError } from './api.js';
import {
  h, s, fill, badge, fmtInt, fmtMicros, fmtRate, fmtBytes, fmtPercent, fmtClock, fmtClockMs, fmtDate,
  shortDigest, sumValues, poll, confirmDialog, sampleCallAction,
} from './util.js';
import { drawChart } from './chart.js';
import { failureBadges } from './overview.js';

const MAX_LOG_LINES = 500;

const REASON_CLASSES = {
  deadline: 'c1', out_of_fuel: 'c0', trap: 'c2', out_of_memory: 'c3', plugin_error: 'c4',
  output_too_large: 'c5', bad_answer: 'c6',
};

function reasonClass(reason) {
  if (REASON_CLASSES[reason]) {
    return REASON_CLASSES[reason];
  }
  let hash = 0;
  for (const ch of reason) {
    hash = (hash * 31 + ch.charCodeAt(0)) % 8;
  }
  return `c${hash}`;
}

const plainNumber = (v) => String(Number(v.toPrecision(3)));

function message(el, text, kind) {
  el.className = `message message-${kind}`;
  el.hidden = !text;
  if (typeof text === 'string') {
    el.textContent = text;
  } else if (text) {
    fill(el, text);
  }
}

function card(title, ...children) {
  return h('section', { class: 'card' }, h('h2', { class: 'card-title', text: title }), children);
}

function stat(label, id, wide = false) {
  return h('div', { class: wide ? 'stat stat-wide' : 'stat' }, h('div', { class: 'stat-label', text: label }), h('div', { class: 'stat-value', id, text: '—' }));
}

const LIMIT_ROWS = [
  ['fuel', 'Fuel per event', fmtInt],
  ['timeout_ms', 'Time per event', (v) => `${fmtInt(v)} ms`],
  ['memory_bytes', 'Memory', fmtBytes],
  ['output_bytes', 'Answer size', fmtBytes],
  ['kv_ops', 'KV operations per event', fmtInt],
  ['log_lines', 'Log lines per event', fmtInt],
  ['log_lines_per_second', 'Log lines per second', fmtInt],
  ['fuel_per_second', 'Fuel per second', fmtInt],
  ['max_concurrency', 'Concurrent invocations', fmtInt],
];

export function renderTenant(container, id) {
  const page = h('section', { id: 'tenant-page', class: 'page', 'data-tenant': id });
  const loading = h('p', { class: 'muted', text: `Loading ${id}…` });
  page.append(loading);
  container.append(page);

  let stopped = false;
  const stops = [];
  let status = null;

  const firstLoad = async () => {
    try {
      status = await api(tenantPath(id));
    } catch (e) {
      if (stopped) {
        return;
      }
      const final = e instanceof ApiError && e.status >= 400 && e.status < 500;
      fill(
        page,
        h(
          'div',
          { id: 'tenant-error', class: 'card page-error', role: 'alert' },
          h('h1', { text: final ? `Cannot show tenant ${id}` : `Tenant ${id} is not answering` }),
          h('p', { class: 'error-text', text: describe(e) }),
          final ? null : h('p', { class: 'muted', text: 'Retrying…' }),
        ),
      );
      if (!final) {
        const timer = setTimeout(firstLoad, 2000);
        stops.push(() => clearTimeout(timer));
      }
      return;
    }
    if (!stopped) {
      build();
    }
  };

  function build() {
    const badgesEl = h('span', { id: 'tenant-badges', class: 'badges' });
    const updated = h('span', { class: 'updated muted' });
    const pollError = h('p', { id: 'tenant-poll-error', class: 'banner banner-error', role: 'alert', hidden: true });
    const loadError = h('div', { id: 'load-error', class: 'banner banner-error', role: 'alert', hidden: true });

    // Versions.
    const rollback = h('button', { id: 'rollback', type: 'button', class: 'btn small', text: 'Roll back' });
    const versionsBody = h('tbody');
    const versionsMessage = h('p', { id: 'versions-message', class: 'message', role: 'status', hidden: true });
    const fileInput = h('input', { id: 'upload-file', type: 'file', accept: '.wasm,application/wasm' });
    const activateBox = h('input', { id: 'upload-activate', type: 'checkbox', checked: true });
    const uploadMessage = h('p', { id: 'upload-message', class: 'message', role: 'status', hidden: true });
    const zone = h(
      'div',
      { id: 'upload-zone', class: 'drop-zone' },
      h('div', { class: 'drop-title', text: 'Drop a .wasm component here' }),
      h('label', { class: 'file-label' }, 'or choose a file ', fileInput),
      h('label', { class: 'check' }, activateBox, ' activate after upload'),
    );

    // Charts.
    const chartRate = s('svg', { id: 'chart-rate', class: 'chart' });
    const chartLatency = s('svg', { id: 'chart-latency', class: 'chart' });
    const chartFailures = s('svg', { id: 'chart-failures', class: 'chart' });
    const chartNote = h('span', { class: 'muted small', text: 'last 10 minutes, 5 s buckets' });

    // Logs.
    const logs = h('div', { id: 'logs', class: 'logs', role: 'log', 'aria-live': 'off' });
    const logsEmpty = h('div', { class: 'logs-empty muted', text: 'No log lines yet.' });
    logs.append(logsEmpty);
    const logsStatus = h('span', { id: 'logs-status', class: 'muted small' });
    const logsClear = h('button', { type: 'button', class: 'btn small', text: 'Clear' });

    // Dry run.
    const dryVersion = h('select', { id: 'dry-run-version' });
    const dryBody = h('textarea', { id: 'dry-run-body', class: 'code', rows: 14, spellcheck: 'false' });
    dryBody.value = JSON.stringify(sampleCallAction('1', 'main_menu'), null, 2);
    const dryIds = h('button', { id: 'dry-run-ids', type: 'button', class: 'btn small', text: 'Fresh ids' });
    const dryButton = h('button', { id: 'dry-run', type: 'button', class: 'btn primary', text: 'Dry run' });
    const dryResult = h('div', { id: 'dry-run-result', class: 'dry-result', hidden: true });

    const limitsBody = h('tbody');
    const configBody = h('tbody');

    fill(
      page,
      h(
        'div',
        { class: 'page-head' },
        h('h1', { id: 'tenant-id', text: id }),
        badgesEl,
        h('span', { class: 'spacer' }),
        updated,
      ),
      h(
        'div',
        { class: 'stats' },
        stat('Version', 'tenant-version'),
        stat('Calls in progress', 'tenant-calls'),
        stat('Running', 'tenant-running'),
        stat('Rate (60 s)', 'tenant-rate'),
        stat('Latency p50 / p99', 'tenant-latency', true),
        stat('Fuel p50', 'tenant-fuel'),
        stat('Invocations', 'tenant-invocations'),
        stat('Failures since start', 'tenant-failures'),
      ),
      pollError,
      loadError,
      h(
        'section',
        { class: 'card charts-card' },
        h('div', { class: 'card-head' }, h('h2', { class: 'card-title', text: 'Activity' }), chartNote),
        h('div', { class: 'charts' }, chartRate, chartLatency, chartFailures),
      ),
      h(
        'div',
        { class: 'columns' },
        h(
          'section',
          { class: 'card' },
          h('div', { class: 'card-head' }, h('h2', { class: 'card-title', text: 'Versions' }), rollback),
          h(
            'table',
            { id: 'versions', class: 'data' },
            h(
              'thead',
              {},
              h('tr', {}, h('th', { text: 'Digest' }), h('th', { class: 'num', text: 'Size' }), h('th', { text: 'Uploaded' }), h('th', { text: 'Status' }), h('th')),
            ),
            versionsBody,
          ),
          versionsMessage,
          zone,
          uploadMessage,
        ),
        h(
          'section',
          { class: 'card' },
          h('div', { class: 'card-head' }, h('h2', { class: 'card-title', text: 'Plugin log' }), logsStatus, logsClear),
          logs,
        ),
      ),
      h(
        'div',
        { class: 'columns' },
        h(
          'section',
          { class: 'card' },
          h('div', { class: 'card-head' }, h('h2', { class: 'card-title', text: 'Dry run' }), h('span', { class: 'muted small', text: 'runs the webhook against a version; nothing is stored' })),
          h('div', { class: 'form-row' }, h('label', { for: 'dry-run-version', text: 'Version' }), dryVersion, dryIds, dryButton),
          dryBody,
          dryResult,
        ),
        h(
          'div',
          { class: 'stack' },
          card('Limits', h('table', { id: 'limits', class: 'data kv' }, limitsBody)),
          card('Config', h('table', { id: 'config', class: 'data kv' }, configBody)),
        ),
      ),
    );

    // ---- status ----------------------------------------------------------------------
    let limitsSig = '';
    const showStatus = (t) => {
      status = t;
      const set = (statId, text, cls = '') => {
        const node = document.getElementById(statId);
        if (node) {
          node.textContent = text;
          node.className = `stat-value ${cls}`;
        }
      };
      set('tenant-version', shortDigest(t.active_version), 'mono');
      document.getElementById('tenant-version').title = t.active_version ?? 'no active version';
      set('tenant-calls', fmtInt(t.pinned_calls));
      set('tenant-running', fmtInt(t.in_flight));
      set('tenant-rate', fmtRate(t.recent?.rate ?? 0));
      const recent = t.recent?.events > 0;
      const lat = (recent ? t.recent.latency_us : t.latency_us) ?? {};
      set('tenant-latency', `${fmtMicros(lat.p50)} / ${fmtMicros(lat.p99)}`, recent ? '' : 'muted');
      const fuel = (recent ? t.recent.fuel : t.fuel) ?? {};
      set('tenant-fuel', fmtInt(fuel.p50), recent ? '' : 'muted');
      set('tenant-invocations', fmtInt(t.invocations));
      const failures = sumValues(t.failures);
      set('tenant-failures', fmtInt(failures), failures ? 'warn-text' : '');
      document.getElementById('tenant-failures').title =
        Object.entries(t.failures ?? {}).map(([r, n]) => `${r}: ${n}`).join(', ') || 'none';

      const error = t.plugin_error || t.last_load?.error;
      const badges = [];
      badges.push(
        t.plugin_resident
          ? badge('resident', 'ok', 'The plugin is loaded in memory')
          : badge('not resident', 'neutral', 'The plugin is not loaded in memory'),
      );
      if (error) {
        badges.push(badge('plugin error', 'error', error));
      } else if (!t.active_version) {
        badges.push(badge('no plugin', 'neutral'));
      }
      if (sumValues(t.recent?.failures) > 0) {
        badges.push(...failureBadges(t.recent.failures));
      }
      fill(badgesEl, badges);

      if (error) {
        const ll = t.last_load ?? {};
        fill(
          loadError,
          h('strong', { text: 'The plugin failed its last load' }),
          ll.at ? ` (${fmtDate(ll.at)}, ${fmtInt(ll.failures)} of ${fmtInt(ll.loads)} loads failed)` : '',
          ': ',
          h('span', { class: 'load-error-text', text: error }),
        );
        loadError.hidden = false;
      } else {
        loadError.hidden = true;
        loadError.replaceChildren();
      }

      const sig = JSON.stringify([t.limits, t.kv, t.config]);
      if (sig !== limitsSig) {
        limitsSig = sig;
        const rows = [];
        const limits = t.limits ?? {};
        const known = new Set();
        for (const [key, label, format] of LIMIT_ROWS) {
          if (limits[key] !== undefined) {
            known.add(key);
            rows.push(h('tr', {}, h('th', { text: label, title: key }), h('td', { class: 'num', text: format(limits[key]) })));
          }
        }
        for (const [key, value] of Object.entries(limits)) {
          if (!known.has(key)) {
            rows.push(h('tr', {}, h('th', { text: key }), h('td', { class: 'num', text: String(value) })));
          }
        }
        const kv = t.kv;
        if (kv) {
          rows.push(
            h('tr', {}, h('th', { text: 'KV keys' }), h('td', { class: 'num', text: `${fmtInt(kv.keys)} of ${fmtInt(kv.quota_keys)}` })),
            h('tr', {}, h('th', { text: 'KV bytes' }), h('td', { class: 'num', text: `${fmtBytes(kv.bytes)} of ${fmtBytes(kv.quota_bytes)}` })),
            h('tr', {}, h('th', { text: 'KV writes refused' }), h('td', { class: kv.refused ? 'num warn-text' : 'num', text: fmtInt(kv.refused) })),
          );
        }
        fill(limitsBody, rows);
        const config = Object.entries(t.config ?? {});
        fill(
          configBody,
          config.length
            ? config.map(([key, value]) =>
                h('tr', {}, h('th', { class: 'mono', text: key }), h('td', { class: 'mono wrap', text: typeof value === 'string' ? value : JSON.stringify(value) })))
            : h('tr', {}, h('td', { class: 'muted', text: 'The plugin has no [config].' })),
        );
      }
    };

    // ---- versions ----------------------------------------------------------------------
    let versionsSig = '';
    const showVersions = (list) => {
      const sig = JSON.stringify(list);
      if (sig === versionsSig) {
        return;
      }
      versionsSig = sig;
      const rows = [...list].reverse().map((v) => {
        const active = v.status === 'active';
        return h(
          'tr',
          { 'data-digest': v.digest, class: active ? 'row-active' : '' },
          h('td', {}, h('code', { title: v.digest, text: shortDigest(v.digest) })),
          h('td', { class: 'num', text: fmtBytes(v.size) }),
          h('td', { text: fmtDate(v.uploaded_at) }),
          h('td', { class: 'version-status' }, active ? badge('active', 'ok') : badge('inactive', 'neutral')),
          h(
            'td',
            { class: 'actions' },
            active ? null : h('button', { type: 'button', class: 'btn small activate', 'data-digest': v.digest, text: 'Activate' }),
          ),
        );
      });
      fill(versionsBody, rows.length ? rows : h('tr', {}, h('td', { colspan: 5, class: 'muted', text: 'No versions stored.' })));
      rollback.disabled = list.length < 2;

      // The dry run's choice of version: keep the user's, default to the active one.
      const chosen = dryVersion.value;
      const activeDigest = list.find((v) => v.status === 'active')?.digest;
      fill(
        dryVersion,
        [...list].reverse().map((v) =>
          h('option', { value: v.digest, text: `${shortDigest(v.digest)}${v.status === 'active' ? ' (active)' : ''}` })),
      );
      dryVersion.value = list.some((v) => v.digest === chosen) ? chosen : activeDigest ?? list[list.length - 1]?.digest ?? '';
    };

    const refresh = async () => {
      try {
        const [t, v] = await Promise.all([api(tenantPath(id)), api(tenantPath(id, '/versions'))]);
        if (stopped) {
          return;
        }
        showStatus(t);
        showVersions(v.versions ?? []);
        pollError.hidden = true;
        updated.textContent = `updated ${fmtClock(Date.now() / 1000)}`;
      } catch (e) {
        pollError.textContent = describe(e);
        pollError.hidden = false;
        updated.textContent = 'not updating';
      }
    };

    versionsBody.addEventListener('click', async (event) => {
      const button = event.target.closest('button.activate');
      if (!button) {
        return;
      }
      const digest = button.dataset.digest;
      const yes = await confirmDialog(
        'Activate version',
        `Activate ${shortDigest(digest)} for ${id}? New events go to it at once.`,
        'Activate',
      );
      if (!yes) {
        return;
      }
      button.disabled = true;
      message(versionsMessage, `Activating ${shortDigest(digest)}…`, 'busy');
      try {
        const t = await api(tenantPath(id, `/versions/${encodeURIComponent(digest)}/activate`), { method: 'POST' });
        message(versionsMessage, `Activated ${shortDigest(t.active_version ?? digest)}.`, 'ok');
        showStatus(t);
      } catch (e) {
        message(versionsMessage, describe(e), 'error');
      }
      button.disabled = false;
      await refresh();
    });

    rollback.addEventListener('click', async () => {
      const current = status?.active_version;
      const yes = await confirmDialog(
        'Roll back',
        `Roll ${id} back from ${shortDigest(current)} to the version that was active before it?`,
        'Roll back',
      );
      if (!yes) {
        return;
      }
      rollback.disabled = true;
      message(versionsMessage, 'Rolling back…', 'busy');
      try {
        const t = await api(tenantPath(id, '/rollback'), { method: 'POST' });
        message(versionsMessage, `Rolled back: ${shortDigest(t.active_version)} is active.`, 'ok');
        showStatus(t);
      } catch (e) {
        message(versionsMessage, describe(e), 'error');
      }
      rollback.disabled = false;
      await refresh();
    });

    // ---- upload ------------------------------------------------------------------------
    let uploading = false;
    const upload = async (file) => {
      if (uploading || !file) {
        return;
      }
      const activate = activateBox.checked;
      // Activating is confirmed, whichever way it is asked for.
      if (
        activate &&
        !(await confirmDialog(
          'Upload and activate',
          `Upload ${file.name} and activate it for ${id}? New events go to it as soon as it is stored.`,
          'Upload and activate',
        ))
      ) {
        fileInput.value = '';
        return;
      }
      uploading = true;
      zone.classList.add('busy');
      fileInput.disabled = true;
      message(uploadMessage, `Uploading ${file.name} (${fmtBytes(file.size)}), compiling…`, 'busy');
      try {
        const r = await api(tenantPath(id, `/versions?activate=${activate}`), {
          method: 'POST',
          body: file,
          contentType: 'application/wasm',
        });
        message(
          uploadMessage,
          [
            `Uploaded ${file.name} as `,
            h('code', { class: 'new-digest', title: r.digest, text: shortDigest(r.digest) }),
            ` (${fmtBytes(r.size)})${r.activated ? ', now active.' : ', not activated.'}`,
          ],
          'ok',
        );
      } catch (e) {
        message(uploadMessage, describe(e), 'error');
      } finally {
        uploading = false;
        zone.classList.remove('busy');
        fileInput.disabled = false;
        fileInput.value = '';
      }
      await refresh();
    };
    fileInput.addEventListener('change', () => upload(fileInput.files[0]));
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      zone.classList.add('drag');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('drag'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('drag');
      upload(e.dataTransfer.files[0]);
    });
    // A file dropped next to the zone must not replace the console.
    const swallow = (e) => {
      if (!zone.contains(e.target)) {
        e.preventDefault();
      }
    };
    window.addEventListener('dragover', swallow);
    window.addEventListener('drop', swallow);
    stops.push(() => {
      window.removeEventListener('dragover', swallow);
      window.removeEventListener('drop', swallow);
    });

    // ---- charts ------------------------------------------------------------------------
    const refreshCharts = async () => {
      let activity;
      try {
        activity = await api(tenantPath(id, '/activity'));
      } catch (e) {
        chartNote.textContent = `activity: ${describe(e)}`;
        return;
      }
      if (stopped) {
        return;
      }
      chartNote.textContent = `last 10 minutes, ${activity.interval_s ?? 5} s buckets`;
      const points = activity.points ?? [];
      const times = points.map((p) => p.at);
      const last = points[points.length - 1];
      const rates = points.map((p) => p.rate ?? 0);
      drawChart(chartRate, {
        title: 'Events per second',
        times,
        series: [{ name: 'rate', cls: 'rate', values: rates }],
        area: true,
        format: plainNumber,
        minMax: 1,
        latest: `now ${fmtRate(last?.rate ?? 0)}`,
        latestValue: last?.rate ?? 0,
      });

      const p50 = points.map((p) => (p.events > 0 ? p.latency_us?.p50 ?? null : null));
      const p99 = points.map((p) => (p.events > 0 ? p.latency_us?.p99 ?? null : null));
      const lastBusy = [...points].reverse().find((p) => p.events > 0);
      drawChart(chartLatency, {
        title: 'Latency',
        times,
        series: [
          { name: 'p50', cls: 'p50', values: p50 },
          { name: 'p99', cls: 'p99', values: p99 },
        ],
        legend: true,
        format: fmtMicros,
        minMax: 1000,
        latest: lastBusy
          ? `p50 ${fmtMicros(lastBusy.latency_us?.p50)} · p99 ${fmtMicros(lastBusy.latency_us?.p99)}`
          : 'no events',
        latestValue: lastBusy?.latency_us?.p99 ?? 0,
      });

      const reasons = [...new Set(points.flatMap((p) => Object.keys(p.failures ?? {})))].sort();
      const total = points.reduce((a, p) => a + sumValues(p.failures), 0);
      const lastFailures = sumValues(last?.failures);
      drawChart(chartFailures, {
        title: `Failures per ${activity.interval_s ?? 5} s`,
        times,
        series: reasons.map((r) => ({ name: r, cls: reasonClass(r), values: points.map((p) => p.failures?.[r] ?? 0) })),
        stacked: true,
        legend: true,
        format: plainNumber,
        minMax: 2,
        latest: `${fmtInt(total)} in 10 min · now ${fmtInt(lastFailures)}`,
        latestValue: lastFailures,
      });
    };

    // ---- logs --------------------------------------------------------------------------
    let lastSeq = null;
    let logCount = 0;
    const refreshLogs = async () => {
      let answer;
      try {
        answer = await api(tenantPath(id, lastSeq === null ? '/logs' : `/logs?after=${lastSeq}`));
      } catch (e) {
        logsStatus.textContent = `log: ${describe(e)}`;
        return;
      }
      if (stopped) {
        return;
      }
      if (lastSeq !== null && lastSeq > 0 && answer.next <= lastSeq) {
        // The host numbers lines afresh after a restart (and each node its own): start over.
        lastSeq = null;
        return;
      }
      const atBottom = logs.scrollHeight - logs.scrollTop - logs.clientHeight < 24;
      const added = [];
      if (answer.missed > 0 && lastSeq !== null) {
        added.push(h('div', { class: 'log-missed', text: `${fmtInt(answer.missed)} lines missed` }));
      }
      for (const line of answer.lines ?? []) {
        if (lastSeq !== null && line.seq <= lastSeq) {
          continue;
        }
        lastSeq = line.seq;
        const level = String(line.level ?? 'info').toLowerCase();
        added.push(
          h(
            'div',
            { class: `log-line level-${level}`, 'data-seq': line.seq },
            h('span', { class: 'log-time', text: fmtClockMs(line.at_ms) }),
            h('span', { class: 'log-level', text: level }),
            h('span', { class: 'log-msg', text: line.message }),
          ),
        );
        logCount += 1;
      }
      if (lastSeq === null) {
        // Nothing kept yet: from now on ask only for what is new.
        lastSeq = 0;
      }
      if (added.length) {
        logsEmpty.remove();
        logs.append(...added);
        while (logCount > MAX_LOG_LINES) {
          const first = logs.firstElementChild;
          if (first.classList.contains('log-line')) {
            logCount -= 1;
          }
          first.remove();
        }
        if (atBottom) {
          logs.scrollTop = logs.scrollHeight;
        }
      }
      logsStatus.textContent = logCount ? `${fmtInt(logCount)} lines` : '';
    };
    logsClear.addEventListener('click', () => {
      logs.replaceChildren(logsEmpty);
      logCount = 0;
      logsStatus.textContent = '';
    });

    // ---- dry run -----------------------------------------------------------------------
    dryIds.addEventListener('click', () => {
      let body;
      try {
        body = JSON.parse(dryBody.value);
      } catch {
        body = null;
      }
      const fresh = sampleCallAction();
      if (body && typeof body === 'object' && body.payload && typeof body.payload === 'object') {
        body.payload.eventId = fresh.payload.eventId;
        body.payload.sessionId = fresh.payload.sessionId;
        body.payload.callId = fresh.payload.callId;
        dryBody.value = JSON.stringify(body, null, 2);
      } else {
        dryBody.value = JSON.stringify(fresh, null, 2);
      }
    });
    dryButton.addEventListener('click', async () => {
      const digest = dryVersion.value;
      dryResult.hidden = false;
      if (!digest) {
        fill(dryResult, h('p', { class: 'message message-error', text: 'No version to run.' }));
        return;
      }
      dryButton.disabled = true;
      fill(dryResult, h('p', { class: 'message message-busy', text: `Running against ${shortDigest(digest)}…` }));
      try {
        const r = await api(tenantPath(id, `/versions/${encodeURIComponent(digest)}/dry-run`), {
          method: 'POST',
          body: dryBody.value,
          contentType: 'application/json',
        });
        fill(dryResult, dryRunView(r, status?.limits ?? {}));
      } catch (e) {
        fill(dryResult, h('p', { class: 'message message-error', text: describe(e) }));
      } finally {
        dryButton.disabled = false;
      }
    });

    showStatus(status);
    stops.push(poll(refresh, 2000), poll(refreshCharts, 2000), poll(refreshLogs, 1000));
  }

  firstLoad();
  return () => {
    stopped = true;
    for (const stop of stops) {
      stop();
    }
  };
}

function dryRunView(r, limits) {
  const result = r.result ?? {};
  const failed = Boolean(result.failure);
  const cost = [];
  if (r.fuel_used !== null && r.fuel_used !== undefined) {
    cost.push(`fuel ${fmtInt(r.fuel_used)}${limits.fuel ? ` of ${fmtInt(limits.fuel)} (${fmtPercent(r.fuel_used, limits.fuel)})` : ''}`);
  }
  if (r.elapsed_us !== undefined) {
    const limitUs = limits.timeout_ms ? limits.timeout_ms * 1000 : 0;
    cost.push(`time ${fmtMicros(r.elapsed_us)}${limitUs ? ` of ${fmtMicros(limitUs)} (${fmtPercent(r.elapsed_us, limitUs)})` : ''}`);
  }
  return [
    h(
      'div',
      { class: 'dry-summary' },
      failed ? badge(`fallback: ${result.failure}`, 'warn') : badge('answered', 'ok'),
      h('span', { class: 'mono small', text: ` version ${shortDigest(r.version)} · ${cost.join(' · ')}` }),
    ),
    failed
      ? h(
          'div',
          { class: 'failure' },
          h('div', {}, h('strong', { text: result.failure }), ': ', result.message ?? ''),
          h('div', { class: 'small', text: 'A caller would get the tenant\u2019s fallback:' }),
          h('pre', { class: 'code fallback', text: JSON.stringify(result.fallback ?? null, null, 2) }),
        )
      : null,
    h('pre', { class: 'code json', text: JSON.stringify(r, null, 2) }),
  ];
}
