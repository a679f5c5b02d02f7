// DOM building and formatting. Every piece of server text goes in through text nodes.

/**
 * Creates an element. `attrs`: `class`, `text` (textContent), `on<event>` listeners,
 * `data-*`, boolean `hidden`/`disabled`/`checked`/`readOnly`/`selected`, anything else
 * as an attribute. Children: nodes, strings (text nodes), null/false (skipped), arrays.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Same as `h`, in the SVG namespace. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const PROPS = new Set(['hidden', 'disabled', 'checked', 'readOnly', 'selected', 'value']);

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key === 'text') {
      el.textContent = String(value);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (PROPS.has(key)) {
      el[key] = value;
    } else if (key === 'style') {
      throw new Error('style attributes break the CSP');
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    if (Array.isArray(child)) {
      append(el, child);
    } else if (child instanceof Node) {
      el.append(child);
    } else {
      el.append(document.createTextNode(String(child)));
    }
  }
}

/** Replaces the element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function badge(text, kind = 'neutral', title = undefined) {
  return h('span', { class: `badge badge-${kind}`, text, title });
}

// ---- numbers ------------------------------------------------------------------------

const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function fmtInt(n) {
  return n === null || n === undefined ? '—' : intFormat.format(n);
}

/** Microseconds, shown as µs, ms or s. */
export function fmtMicros(us) {
  if (us === null || us === undefined || Number.isNaN(us)) {
    return '—';
  }
  if (us < 1000) {
    return `${Math.round(us)} µs`;
  }
  if (us < 1e6) {
    return `${trim(us / 1000)} ms`;
  }
  return `${trim(us / 1e6)} s`;
}

/** Milliseconds with up to three decimals ("0.131 ms"). */
export function fmtMs(ms) {
  if (ms >= 100) {
    return `${Math.round(ms)} ms`;
  }
  if (ms >= 10) {
    return `${ms.toFixed(1).replace(/\.0$/, '')} ms`;
  }
  return `${ms.toFixed(3).replace(/\.?0+$/, '')} ms`;
}

function trim(x) {
  const digits = x < 10 ? 2 : x < 100 ? 1 : 0;
  return x.toFixed(digits).replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
}

/** Events per second. */
export function fmtRate(r) {
  if (r === null || r === undefined) {
    return '—';
  }
  if (r === 0) {
    return '0/s';
  }
  if (r < 0.01) {
    return '<0.01/s';
  }
  return `${r < 10 ? r.toFixed(2) : r < 100 ? r.toFixed(1) : Math.round(r)}/s`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) {
    return '—';
  }
  if (n < 1024) {
    return `${n} B`;
  }
  if (n < 1024 * 1024) {
    return `${trim(n / 1024)} KiB`;
  }
  if (n < 1024 * 1024 * 1024) {
    return `${trim(n / 1024 / 1024)} MiB`;
  }
  return `${trim(n / 1024 / 1024 / 1024)} GiB`;
}

export function fmtPercent(part, whole) {
  if (!whole) {
    return '—';
  }
  const p = (100 * part) / whole;
  if (p === 0) {
    return '0%';
  }
  if (p < 0.01) {
    return '<0.01%';
  }
  return `${p < 10 ? p.toFixed(2) : p.toFixed(1)}%`;
}

const pad = (n) => String(n).padStart(2, '0');

/** Local clock time of a Unix time in seconds. */
export function fmtClock(unixSeconds, withSeconds = true) {
  const d = new Date(unixSeconds * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${hm}:${pad(d.getSeconds())}` : hm;
}

/** "2026-01-06 10:17" for a Unix time in seconds. */
export function fmtDate(unixSeconds) {
  if (!unixSeconds) {
    return '—';
  }
  const d = new Date(unixSeconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtClock(unixSeconds, false)}`;
}

/** "10:17:19.375" for a Unix time in milliseconds. */
export function fmtClockMs(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

export function shortDigest(digest) {
  return digest ? digest.slice(0, 12) : '—';
}

/** The sum of an object's values (0 for none). */
export function sumValues(obj) {
  return Object.values(obj || {}).reduce((a, b) => a + b, 0);
}

// ---- timing ---------------------------------------------------------------------------

/**
 * Runs `task` now and then `ms` after each run settles (no overlapping runs).
 * Returns a stop function.
 */
export function poll(task, ms) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    try {
      await task();
    } catch (e) {
      console.error(e);
    }
    if (!stopped) {
      timer = setTimeout(run, ms);
    }
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// ---- the confirmation dialog ------------------------------------------------------------

/** Asks in the page's <dialog id="confirm">; resolves true for Confirm. */
export function confirmDialog(title, text, confirmLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  const yes = document.getElementById('confirm-yes');
  const no = document.getElementById('confirm-no');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  yes.textContent = confirmLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      yes.removeEventListener('click', onYes);
      no.removeEventListener('click', onNo);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) {
        dialog.close();
      }
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    const onCancel = (e) => {
      e.preventDefault();
      done(false);
    };
    yes.addEventListener('click', onYes);
    no.addEventListener('click', onNo);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    no.focus();
  });
}

// ---- sample webhooks --------------------------------------------------------------------

function randomId(prefix) {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** An 8x8 CALL_ACTION webhook: the caller pressed `dtmf` at `clientActionId`. */
export function sampleCallAction(dtmf = '1', clientActionId = 'main_menu') {
  const session = randomId('s-');
  return {
    namespace: 'VOICE',
    eventType: 'CALL_ACTION',
    description: 'Action request of a call',
    payload: {
      eventId: randomId('e-'),
      callId: randomId('c-'),
      sessionId: session,
      subAccountId: '8x8_test',
      callStatus: 'ACTION_COMPLETED',
      callDirection: 'INBOUND',
      callType: 'PSTN',
      source: '+6591178965',
      destination: '+6568332048',
      clientActionId,
      eventData: { dtmf },
      callDuration: 4,
      sipCode: 200,
      timestamp: new Date().toISOString(),
    },
  };
}
