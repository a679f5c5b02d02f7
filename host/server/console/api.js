// The host's admin API: the bearer token from sessionStorage on every call, and every
// error answer ({code, message} with a 4xx/5xx) turned into a thrown ApiError.

const TOKEN_KEY = 'callflow.token';

export const session = {
  token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

// Fired on window when the host answers 401 to a signed-in call: the app goes back to
// the sign-in view.
export const UNAUTHORIZED = 'callflow:unauthorized';

/**
 * Calls the host. `opts.json` is sent as JSON; `opts.body` as is, with
 * `opts.contentType`. Resolves to the parsed JSON answer (null for an empty one).
 */
export async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const token = opts.token ?? session.token();
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = 'application/json';
  } else if (opts.contentType) {
    headers['Content-Type'] = opts.contentType;
  }
  let response;
  try {
    response = await fetch(path, {
      method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      cache: 'no-store',
      credentials: 'omit',
      signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') {
      throw e;
    }
    throw new ApiError(0, 'network', `The host did not answer (${e.message}).`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const code = data && typeof data.code === 'string' ? data.code : `http_${response.status}`;
    const message =
      data && typeof data.message === 'string'
        ? data.message
        : `The host answered ${response.status} ${response.statusText}`.trim();
    const error = new ApiError(response.status, code, message);
    if (response.status === 401 && !opts.token) {
      window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: error }));
    }
    throw error;
  }
  if (text && data === null) {
    throw new ApiError(response.status, 'bad_answer', 'The host answered something that is not JSON.');
  }
  return data;
}

/** `/v1/admin/tenants/{t}` plus `rest`, with the tenant id escaped. */
export function tenantPath(tenant, rest = '') {
  return `/v1/admin/tenants/${encodeURIComponent(tenant)}${rest}`;
}

/** "message (403 forbidden)" for showing an error to the user. */
export function describe(error) {
  if (error instanceof ApiError) {
    return error.status ? `${error.message} (${error.status} ${error.code})` : error.message;
  }
  return String(error && error.message ? error.message : error);
}
