// The operator's overview: every tenant, refreshed every 2 s.

import { api, describe } from './api.js';
import { h, badge, fmtInt, fmtMicros, fmtRate, fmtClock, shortDigest, sumValues, poll } from './util.js';

const COLUMNS = [
  ['Tenant', ''],
  ['Version', ''],
  ['Resident', ''],
  ['Calls', 'num', 'Calls in progress (pinned sessions)'],
  ['Running', 'num', 'Invocations running now'],
  ['Rate', 'num', 'Events per second over the last 60 s'],
  ['p50', 'num', 'Latency, last 60 s (since start when idle)'],
  ['p99', 'num', 'Latency, last 60 s (since start when idle)'],
  ['Fuel p50', 'num', 'Fuel per event, last 60 s (since start when idle)'],
  ['Failures 60 s', '', 'Failures by reason over the last 60 s'],
  ['Since start', 'num', 'Failures since the host started'],
  ['Status', ''],
];

/** The recent figure, or the since-start one (muted) when nothing ran lately. */
function recentOr(t, pick) {
  const recent = t.recent ?? {};
  if (recent.events > 0) {
    return { value: pick(recent), recent: true };
  }
  return { value: pick(t), recent: false };
}

function figure(text, isRecent) {
  return h('td', {
    class: isRecent ? 'num' : 'num muted',
    title: isRecent ? 'last 60 s' : 'since start (nothing in the last 60 s)',
    text,
  });
}

export function failureBadges(failures) {
  const entries = Object.entries(failures ?? {}).filter(([, n]) => n > 0);
  if (!entries.length) {
    return [h('span', { class: 'muted', text: '0' })];
  }
  return entries.map(([reason, n]) => badge(`${reason} ${fmtInt(n)}`, 'warn'));
}

export function statusBadge(t) {
  const error = t.plugin_error || t.last_load?.error;
  if (error) {
    return [badge('plugin error', 'error', error), h('div', { class: 'cell-note error-text', title: error, text: error })];
  }
  if (!t.active_version) {
    return [badge('no plugin', 'neutral')];
  }
  if (sumValues(t.recent?.failures) > 0) {
    return [badge('fallbacks', 'warn', 'Some events failed in the last 60 s: their callers got the fallback')];
  }
  return [badge('ok', 'ok')];
}

function row(t) {
  const latency = recentOr(t, (x) => x.latency_us ?? {});
  const fuel = recentOr(t, (x) => x.fuel ?? {});
  const total = sumValues(t.failures);
  return h(
    'tr',
    { 'data-tenant': t.tenant },
    h('td', {}, h('a', { href: `#/tenants/${encodeURIComponent(t.tenant)}`, class: 'tenant-link', text: t.tenant })),
    h('td', {}, t.active_version ? h('code', { title: t.active_version, text: shortDigest(t.active_version) }) : h('span', { class: 'muted', text: 'none' })),
    h('td', {}, t.plugin_resident ? badge('yes', 'ok') : badge('no', 'neutral')),
    h('td', { class: 'num', text: fmtInt(t.pinned_calls) }),
    h('td', { class: 'num', text: fmtInt(t.in_flight) }),
    h('td', { class: 'num', text: fmtRate(t.recent?.rate ?? 0) }),
    figure(fmtMicros(latency.value.p50), latency.recent),
    figure(fmtMicros(latency.value.p99), latency.recent),
    figure(fmtInt(fuel.value.p50), fuel.recent),
    h('td', { class: 'failures-cell' }, failureBadges(t.recent?.failures)),
    h('td', {
      class: total > 0 ? 'num warn-text' : 'num',
      title: Object.entries(t.failures ?? {}).map(([r, n]) => `${r}: ${n}`).join(', ') || 'none',
      text: fmtInt(total),
    }),
    h('td', { class: 'status' }, statusBadge(t)),
  );
}

function stat(label, id) {
  const value = h('div', { class: 'stat-value', id, text: '—' });
  return [h('div', { class: 'stat' }, h('div', { class: 'stat-label', text: label }), value), value];
}

export function renderOverview(container) {
  const [tenantsStat, tenantsValue] = stat('Tenants', 'stat-tenants');
  const [rateStat, rateValue] = stat('Events/s (60 s)', 'stat-rate');
  const [callsStat, callsValue] = stat('Calls in progress', 'stat-calls');
  const [failStat, failValue] = stat('Failures (60 s)', 'stat-failures');
  const [errStat, errValue] = stat('Plugin errors', 'stat-errors');
  const updated = h('span', { class: 'updated muted' });
  const error = h('p', { id: 'overview-error', class: 'banner banner-error', role: 'alert', hidden: true });
  const tbody = h('tbody');
  const empty = h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length, class: 'muted', text: 'Loading…' }));
  tbody.append(empty);

  container.append(
    h(
      'section',
      { id: 'overview-page', class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { text: 'Overview' }), updated),
      h('div', { class: 'stats' }, tenantsStat, rateStat, callsStat, failStat, errStat),
      error,
      h(
        'div',
        { class: 'card table-card' },
        h(
          'table',
          { id: 'tenants', class: 'data' },
          h('thead', {}, h('tr', {}, COLUMNS.map(([label, cls, title]) => h('th', { class: cls, title, text: label })))),
          tbody,
        ),
      ),
    ),
  );

  const rows = new Map();
  const refresh = async () => {
    let tenants;
    try {
      ({ tenants } = await api('/v1/admin/tenants'));
    } catch (e) {
      error.textContent = describe(e);
      error.hidden = false;
      updated.textContent = 'not updating';
      return;
    }
    error.hidden = true;
    updated.textContent = `updated ${fmtClock(Date.now() / 1000)}`;
    tenants.sort((a, b) => a.tenant.localeCompare(b.tenant));
    empty.remove();
    if (!tenants.length && !tbody.querySelector('tr.empty')) {
      tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: COLUMNS.length, class: 'muted', text: 'No tenants.' })));
    }
    const seen = new Set();
    let previous = null;
    for (const t of tenants) {
      seen.add(t.tenant);
      const sig = JSON.stringify(t);
      let current = rows.get(t.tenant);
      if (!current || current.sig !== sig) {
        const tr = row(t);
        if (current) {
          current.tr.replaceWith(tr);
        }
        current = { tr, sig };
        rows.set(t.tenant, current);
      }
      // Keep the order: each row right after the previous one.
      const want = previous ? previous.nextSibling : tbody.firstChild;
      if (want !== current.tr) {
        tbody.insertBefore(current.tr, want);
      }
      previous = current.tr;
    }
    for (const [id, r] of rows) {
      if (!seen.has(id)) {
        r.tr.remove();
        rows.delete(id);
      }
    }
    for (const extra of [...tbody.querySelectorAll('tr.empty')]) {
      if (tenants.length) {
        extra.remove();
      }
    }

    tenantsValue.textContent = fmtInt(tenants.length);
    rateValue.textContent = fmtRate(tenants.reduce((a, t) => a + (t.recent?.rate ?? 0), 0));
    callsValue.textContent = fmtInt(tenants.reduce((a, t) => a + (t.pinned_calls ?? 0), 0));
    const failures = tenants.reduce((a, t) => a + sumValues(t.recent?.failures), 0);
    failValue.textContent = fmtInt(failures);
    failValue.classList.toggle('warn-text', failures > 0);
    const errors = tenants.filter((t) => t.plugin_error || t.last_load?.error).length;
    errValue.textContent = fmtInt(errors);
    errValue.classList.toggle('error-text', errors > 0);
  };
  return poll(refresh, 2000);
}
