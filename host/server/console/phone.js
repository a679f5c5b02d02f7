// The dev phone: place a simulated 8x8 call against a tenant's plugin, hear the prompts,
// key digits, and see every webhook with its cost, failure and log lines.

import { api, tenantPath, describe, ApiError } from './api.js';
import { h, fill, badge, fmtInt, fmtMs, fmtPercent, shortDigest } from './util.js';

const KEYS = [
  ['1', ''], ['2', 'ABC'], ['3', 'DEF'],
  ['4', 'GHI'], ['5', 'JKL'], ['6', 'MNO'],
  ['7', 'PQRS'], ['8', 'TUV'], ['9', 'WXYZ'],
  ['*', ''], ['0', '+'], ['#', ''],
];

const ENDINGS = {
  hangup: 'the callflow hung up',
  caller_hung_up: 'you hung up',
  too_many_call_actions: 'too many call actions in a row (a loop?)',
  rejected: '8x8 would reject the callflow',
};

const speech = 'speechSynthesis' in window && 'SpeechSynthesisUtterance' in window ? window.speechSynthesis : null;

/** The call's entries so far (its transcript's). */
function entriesOf(call) {
  return call.transcript?.entries ?? [];
}

function plural(n, word, words = `${word}s`) {
  return `${n} ${n === 1 ? word : words}`;
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

function webhookView(entry, limits) {
  const w = entry.webhook ?? {};
  const failure = entry.failure;
  const cost = entry.cost;
  const parts = [];
  if (cost) {
    const fuelLimit = cost.fuel_limit ?? limits.fuel;
    const timeLimitUs = cost.time_limit_us ?? (limits.timeout_ms ? limits.timeout_ms * 1000 : 0);
    parts.push(
      h('span', { class: 'cost-fuel', text: `fuel ${fmtInt(cost.fuel)} of ${fmtInt(fuelLimit)} (${fmtPercent(cost.fuel, fuelLimit)})` }),
      ' · ',
      h('span', {
        class: 'cost-time',
        text: `time ${fmtMs(cost.elapsed_us / 1000)} of ${fmtMs(timeLimitUs / 1000)} (${fmtPercent(cost.elapsed_us, timeLimitUs)})`,
      }),
    );
  }
  const logs = entry.logs ?? [];
  return h(
    'div',
    { class: `entry entry-webhook${failure ? ' entry-failed' : ''}` },
    h(
      'div',
      { class: 'entry-head' },
      h('span', { class: 'entry-n', text: `#${w.n ?? ''}` }),
      h('strong', { class: 'event-type', text: w.event_type ?? 'webhook' }),
      w.status ? h('span', { class: 'muted', text: w.status }) : null,
      h('span', { class: 'spacer' }),
      entry.status !== undefined && entry.status !== null
        ? badge(`HTTP ${entry.status}`, entry.status >= 200 && entry.status < 300 ? (failure ? 'warn' : 'ok') : 'error')
        : null,
    ),
    w.summary ? h('div', { class: 'entry-summary', text: w.summary }) : null,
    parts.length ? h('div', { class: 'entry-cost mono' }, parts) : null,
    failure
      ? h(
          'div',
          { class: 'failure' },
          h('strong', { text: failure.reason }),
          failure.message ? `: ${failure.message}` : '',
          w.event_type === 'CALL_ACTION' ? h('div', { class: 'fallback-note', text: 'The caller got the tenant\u2019s fallback.' }) : null,
        )
      : null,
    logs.length
      ? h(
          'div',
          { class: 'entry-logs' },
          logs.map((l) =>
            h(
              'div',
              { class: `log-line level-${String(l.level ?? 'info').toLowerCase()}` },
              h('span', { class: 'log-level', text: String(l.level ?? 'info').toLowerCase() }),
              h('span', { class: 'log-msg', text: l.message }),
            )),
        )
      : null,
    h(
      'details',
      { class: 'entry-details' },
      h('summary', { text: 'webhook and answer' }),
      h('div', { class: 'small muted', text: 'webhook' }),
      h('pre', { class: 'code', text: pretty(w.body ?? null) }),
      h('div', { class: 'small muted', text: 'answer' }),
      h('pre', { class: 'code', text: pretty(entry.answer ?? null) }),
    ),
  );
}

function line(type, label, ...content) {
  return h('div', { class: `entry entry-${type}` }, h('span', { class: 'entry-kind', text: label }), h('span', { class: 'entry-text' }, content));
}

function times(n) {
  return n > 1 ? h('span', { class: 'muted', text: ` ×${n}` }) : null;
}

function entryView(entry, limits) {
  switch (entry.type) {
    case 'webhook':
      return webhookView(entry, limits);
    case 'hears':
      return line('hears', 'hears', `\u201c${entry.text}\u201d`, times(entry.times));
    case 'plays_file':
      return line('plays_file', 'plays', h('span', { class: 'mono', text: entry.url }), times(entry.times));
    case 'prompt':
      return line('prompt', `prompt ${entry.attempt}/${entry.tries}`, `\u201c${entry.text}\u201d`);
    case 'presses':
      return line('presses', 'presses', h('kbd', { text: entry.keys }), entry.digits !== entry.keys ? ` (digits ${entry.digits})` : '');
    case 'no_input':
      return line('no_input', 'no input', entry.keys ? [h('kbd', { text: entry.keys }), ' '] : '', entry.why ?? '');
    case 'nothing_captured':
      return line('nothing_captured', 'nothing', `nothing captured after ${plural(entry.tries, 'try', 'tries')}`);
    case 'dials':
      return line('dials', 'dials', `${entry.destination}`, h('span', { class: 'muted', text: ` shown ${entry.source}` }));
    case 'bridged':
      return line('bridged', 'bridged', `to ${entry.destination} for ${entry.seconds} s`);
    case 'hangup':
      return line('hangup', 'hangup', 'the callflow hangs up');
    case 'caller_hangs_up':
      return line('caller_hangs_up', 'caller', `hangs up${entry.why ? `: ${entry.why}` : ''}`);
    case 'rejected':
      return h(
        'div',
        { class: 'entry entry-rejected failure' },
        h('span', { class: 'entry-kind', text: 'rejected' }),
        h('span', { class: 'entry-text', text: `8x8 rejects the callflow (${entry.code}): ${entry.message}` }),
      );
    default:
      return h('div', { class: `entry entry-other` }, h('pre', { class: 'code', text: pretty(entry) }));
  }
}

function digitsHint(w) {
  const digits = w.min_digits === w.max_digits ? plural(w.max_digits, 'digit') : `${w.min_digits} to ${w.max_digits} digits`;
  return `press ${digits}${w.complete_on_hash ? ', # to finish' : ''}`;
}

export function renderPhone(container, ctx) {
  const operator = ctx.whoami.role === 'operator';
  const tenantSelect = h('select', { id: 'phone-tenant' });
  const versionSelect = h('select', { id: 'phone-version' });
  const caller = h('input', { id: 'phone-caller', type: 'tel', value: '+6591178965', autocomplete: 'off' });
  const dialled = h('input', { id: 'phone-dialled', type: 'tel', value: '+6568332048', autocomplete: 'off' });
  const status = h('div', { id: 'phone-status', class: 'phone-status', role: 'status', 'aria-live': 'polite' });
  const keypad = h(
    'div',
    { class: 'keypad' },
    KEYS.map(([key, letters]) =>
      h('button', { type: 'button', class: 'key', 'data-key': key, title: `key ${key}` }, h('span', { class: 'key-main', text: key }), h('span', { class: 'key-sub', text: letters }))),
  );
  const callButton = h('button', { id: 'phone-call', type: 'button', class: 'btn call', text: 'Call' });
  const hangupButton = h('button', { id: 'phone-hangup', type: 'button', class: 'btn hangup', text: 'Hang up', disabled: true });
  const speak = h('input', { id: 'phone-speak', type: 'checkbox', checked: Boolean(speech), disabled: !speech });
  const transcript = h('div', { id: 'phone-transcript', class: 'transcript' }, h('p', { class: 'muted empty', text: 'No call yet.' }));
  const summary = h('span', { id: 'phone-summary', class: 'badges' });
  const copyButton = h('button', { id: 'phone-copy', type: 'button', class: 'btn small', text: 'Copy transcript', disabled: true });
  const copyNote = h('span', { class: 'muted small' });
  const json = h('textarea', { id: 'phone-json', class: 'code', readOnly: true, rows: 10, spellcheck: 'false', hidden: true });

  container.append(
    h(
      'section',
      { id: 'phone-page', class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { text: 'Dev phone' }), h('span', { class: 'muted', text: 'a simulated 8x8 call against a tenant\u2019s plugin' })),
      h(
        'div',
        { class: 'phone-layout' },
        h(
          'section',
          { class: 'card phone' },
          h(
            'div',
            { class: 'form-grid' },
            h('label', { for: 'phone-tenant', text: 'Tenant' }), tenantSelect,
            h('label', { for: 'phone-version', text: 'Version' }), versionSelect,
            h('label', { for: 'phone-caller', text: 'Caller' }), caller,
            h('label', { for: 'phone-dialled', text: 'Dialled' }), dialled,
          ),
          status,
          keypad,
          h('div', { class: 'phone-buttons' }, callButton, hangupButton),
          h('label', { class: 'check small' }, speak, speech ? ' speak what the caller hears' : ' speech is not available in this browser'),
        ),
        h(
          'section',
          { class: 'card transcript-card' },
          h('div', { class: 'card-head' }, h('h2', { class: 'card-title', text: 'Transcript' }), summary, h('span', { class: 'spacer' }), copyNote, copyButton),
          transcript,
          json,
        ),
      ),
    ),
  );

  let stopped = false;
  let call = null; // the latest PhoneCall
  let shown = 0; // entries rendered
  let collect = null; // keys being collected at a prompt
  let busy = false; // a request is on its way
  let refreshTimer = null;
  let tenantsLoaded = false;

  const setStatus = (text, state) => {
    status.textContent = text;
    status.className = `phone-status status-${state}`;
    status.dataset.state = state;
  };
  setStatus('idle: choose a tenant and call', 'idle');

  const active = () => call !== null && !call.ending;
  const updateButtons = () => {
    callButton.disabled = active() || busy || !tenantsLoaded;
    hangupButton.disabled = !active();
    keypad.classList.toggle('armed', collect !== null);
    tenantSelect.disabled = active();
    versionSelect.disabled = active();
  };

  // ---- tenants and versions -------------------------------------------------------------
  const loadVersions = async () => {
    const tenant = tenantSelect.value;
    fill(versionSelect, h('option', { value: '', text: 'active version' }));
    if (!tenant) {
      return;
    }
    try {
      const { versions } = await api(tenantPath(tenant, '/versions'));
      if (stopped || tenantSelect.value !== tenant) {
        return;
      }
      const list = [...(versions ?? [])].reverse();
      fill(
        versionSelect,
        h('option', { value: '', text: 'active version' }),
        list.map((v) => h('option', { value: v.digest, text: `${shortDigest(v.digest)}${v.status === 'active' ? ' (active)' : ''}` })),
      );
      const activeVersion = list.find((v) => v.status === 'active');
      versionSelect.value = activeVersion ? activeVersion.digest : '';
    } catch (e) {
      setStatus(`versions: ${describe(e)}`, 'error');
    }
  };
  const loadTenants = async () => {
    let ids;
    if (operator) {
      try {
        const { tenants } = await api('/v1/admin/tenants');
        ids = tenants.map((t) => t.tenant).sort();
      } catch (e) {
        setStatus(`tenants: ${describe(e)}`, 'error');
        return;
      }
    } else {
      ids = [ctx.whoami.tenant];
    }
    if (stopped) {
      return;
    }
    fill(tenantSelect, ids.map((t) => h('option', { value: t, text: t })));
    tenantsLoaded = true;
    updateButtons();
    await loadVersions();
  };
  tenantSelect.addEventListener('change', loadVersions);

  // ---- speech ----------------------------------------------------------------------------
  // Never waited on: a browser without voices may never fire onend.
  const say = (text, onEnd) => {
    if (!speech || !speak.checked || !text) {
      return;
    }
    try {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = 'en-US';
      if (onEnd) {
        utterance.addEventListener('end', onEnd);
      }
      speech.speak(utterance);
    } catch (e) {
      console.warn('speech', e);
    }
  };
  const hush = () => {
    if (speech) {
      try {
        speech.cancel();
      } catch {
        // nothing to stop
      }
    }
  };

  // ---- the call --------------------------------------------------------------------------
  const stopCollect = () => {
    if (collect) {
      clearTimeout(collect.digitTimer);
      clearTimeout(collect.overallTimer);
      collect = null;
    }
    updateButtons();
  };

  const showWaiting = () => {
    const w = collect.waiting;
    const keyed = collect.keys ? ` — keyed ${collect.keys}` : '';
    setStatus(`at prompt: try ${w.attempt} of ${w.tries} — ${digitsHint(w)}${keyed}`, 'prompt');
  };

  // `speakingMs`: how long the words queued before and with this prompt take to say (at
  // about 15 characters a second, as the simulator reckons); the overall timeout runs from
  // the end of the prompt, or from then if speech never reports its end.
  const startCollect = (waiting, id, speakingMs = 0) => {
    stopCollect();
    collect = { waiting, id, keys: '', digitTimer: null, overallTimer: null };
    collect.overallTimer = setTimeout(submit, speakingMs + (waiting.overall_timeout_ms ?? 10000));
    showWaiting();
    updateButtons();
  };

  // The prompt has been spoken: the caller gets the whole overall timeout from now on.
  const promptSpoken = (id) => {
    if (collect && collect.id === id && !collect.keys) {
      clearTimeout(collect.overallTimer);
      collect.overallTimer = setTimeout(submit, collect.waiting.overall_timeout_ms ?? 10000);
    }
  };

  function submit() {
    if (!collect) {
      return;
    }
    const keys = collect.keys;
    stopCollect();
    send({ keys }, keys ? `sending ${keys}…` : 'no keys: the try timed out, sending nothing…');
  }

  // How long the words last rendered take to say, when speech is on.
  let speakingMs = 0;

  const render = (c) => {
    const entries = entriesOf(c);
    speakingMs = 0;
    if (entries.length < shown) {
      transcript.replaceChildren();
      shown = 0;
    }
    if (shown === 0 && entries.length) {
      transcript.replaceChildren();
    }
    const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
    const id = entries.length;
    const speaking = Boolean(speech && speak.checked);
    for (const entry of entries.slice(shown)) {
      transcript.append(entryView(entry, c.limits ?? {}));
      if (entry.type === 'hears') {
        say(entry.text);
      } else if (entry.type === 'prompt') {
        say(entry.text, () => promptSpoken(id));
      }
      if (speaking && (entry.type === 'hears' || entry.type === 'prompt')) {
        speakingMs += Math.round((entry.text.length * 1000) / 15) * (entry.times ?? 1);
      }
    }
    shown = entries.length;
    if (atBottom) {
      transcript.scrollTop = transcript.scrollHeight;
    }
    const badges = [];
    if (c.ending) {
      badges.push(c.passed ? badge('passed', 'ok') : badge('not passed', 'error'));
    }
    if (c.fallbacks) {
      badges.push(badge(plural(c.fallbacks, 'fallback'), 'warn'));
    }
    if (c.failures) {
      badges.push(badge(plural(c.failures, 'failure'), 'error'));
    }
    fill(summary, badges);
    if (entries.length && c.transcript !== undefined) {
      json.value = JSON.stringify(c.transcript, null, 2);
      json.hidden = false;
      copyButton.disabled = false;
    }
    status.dataset.entries = String(entries.length);
  };

  const handle = (c) => {
    if (stopped) {
      return;
    }
    call = c;
    clearTimeout(refreshTimer);
    render(c);
    if (c.ending) {
      stopCollect();
      const why = ENDINGS[c.ending] ?? c.ending;
      setStatus(`call ended: ${why}${c.fallbacks ? ` (${plural(c.fallbacks, 'fallback')})` : ''}`, 'ended');
      // The page has the whole transcript: the host need not keep the call.
      api(tenantPath(c.tenant, `/phone/calls/${encodeURIComponent(c.call)}`), { method: 'DELETE' }).catch(() => {});
    } else if (c.waiting) {
      startCollect(c.waiting, entriesOf(c).length, speakingMs);
    } else {
      stopCollect();
      setStatus('call in progress…', 'ringing');
      refreshTimer = setTimeout(resync, 1000);
    }
    updateButtons();
  };

  async function resync() {
    if (!call || stopped) {
      return;
    }
    try {
      handle(await api(tenantPath(call.tenant, `/phone/calls/${encodeURIComponent(call.call)}`)));
    } catch (e) {
      lost(e);
    }
  }

  const lost = (e) => {
    if (e instanceof ApiError && e.status === 404) {
      stopCollect();
      call = { ...call, ending: 'gone' };
      setStatus(`call ended: ${describe(e)}`, 'ended');
    } else {
      setStatus(describe(e), 'error');
    }
    updateButtons();
  };

  async function send(body, text) {
    if (!call) {
      return;
    }
    busy = true;
    setStatus(text, 'sending');
    updateButtons();
    try {
      const c = await api(tenantPath(call.tenant, `/phone/calls/${encodeURIComponent(call.call)}/press`), { json: body });
      busy = false;
      handle(c);
    } catch (e) {
      busy = false;
      if (e instanceof ApiError && e.status === 409) {
        await resync();
      } else {
        lost(e);
      }
    }
    updateButtons();
  }

  const place = async () => {
    const tenant = tenantSelect.value;
    if (!tenant || active() || busy) {
      return;
    }
    hush();
    stopCollect();
    call = null;
    shown = 0;
    transcript.replaceChildren(h('p', { class: 'muted empty', text: 'Ringing…' }));
    json.hidden = true;
    json.value = '';
    copyButton.disabled = true;
    summary.replaceChildren();
    const body = {};
    if (versionSelect.value) {
      body.version = versionSelect.value;
    }
    if (caller.value.trim()) {
      body.caller = caller.value.trim();
    }
    if (dialled.value.trim()) {
      body.dialled = dialled.value.trim();
    }
    busy = true;
    setStatus('ringing', 'ringing');
    updateButtons();
    try {
      const c = await api(tenantPath(tenant, '/phone/calls'), { json: body });
      busy = false;
      handle(c);
    } catch (e) {
      busy = false;
      setStatus(`cannot call: ${describe(e)}`, 'error');
      transcript.replaceChildren(h('p', { class: 'muted empty', text: 'No call.' }));
    }
    updateButtons();
  };

  const hangup = () => {
    if (!active()) {
      return;
    }
    hush();
    stopCollect();
    send({ hangup: true }, 'hanging up…');
  };

  const press = (key) => {
    const button = [...keypad.children].find((b) => b.dataset.key === key);
    if (button) {
      button.classList.add('pressed');
      setTimeout(() => button.classList.remove('pressed'), 150);
    }
    if (!collect) {
      return;
    }
    hush(); // the caller barged in
    const w = collect.waiting;
    collect.keys += key;
    clearTimeout(collect.digitTimer);
    if ((key === '#' && w.complete_on_hash) || collect.keys.length >= w.max_digits) {
      submit();
      return;
    }
    showWaiting();
    // The overall timeout keeps running from the prompt; each key restarts the digit one.
    collect.digitTimer = setTimeout(submit, w.digit_timeout_ms ?? 5000);
  };

  keypad.addEventListener('click', (e) => {
    const button = e.target.closest('button.key');
    if (button) {
      press(button.dataset.key);
    }
  });
  const onKey = (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) {
      return;
    }
    const tag = e.target.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || document.getElementById('confirm').open) {
      return;
    }
    if (/^[0-9*#]$/.test(e.key)) {
      e.preventDefault();
      press(e.key);
    }
  };
  document.addEventListener('keydown', onKey);
  callButton.addEventListener('click', place);
  hangupButton.addEventListener('click', hangup);
  copyButton.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(json.value);
      copyNote.textContent = 'copied';
    } catch {
      json.focus();
      json.select();
      copyNote.textContent = 'selected: press Ctrl+C to copy';
    }
    setTimeout(() => {
      copyNote.textContent = '';
    }, 2500);
  });

  updateButtons();
  loadTenants();

  return () => {
    stopped = true;
    stopCollect();
    clearTimeout(refreshTimer);
    document.removeEventListener('keydown', onKey);
    hush();
    if (active()) {
      // Leaving the page hangs up; nobody waits for the answer.
      api(tenantPath(call.tenant, `/phone/calls/${encodeURIComponent(call.call)}`), { method: 'DELETE' }).catch(() => {});
    }
  };
}
