// The console's entry: sign-in, the top bar and the hash router.
//   #/                overview (operators)
//   #/tenants/{id}    a tenant
//   #/phone           the dev phone

import { api, session, describe, UNAUTHORIZED } from './api.js';
import { h } from './util.js';
import { renderOverview } from './overview.js';
import { renderTenant } from './tenant.js';
import { renderPhone } from './phone.js';

const $ = (id) => document.getElementById(id);

const state = {
  whoami: null,
  stopPage: null,
};

function stopPage() {
  if (state.stopPage) {
    state.stopPage();
    state.stopPage = null;
  }
}

function showSignIn(message) {
  stopPage();
  state.whoami = null;
  $('topbar').hidden = true;
  $('app').hidden = true;
  $('app').replaceChildren();
  $('signin-view').hidden = false;
  const error = $('sign-in-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  $('token').value = '';
  $('token').focus();
}

function showApp(whoami) {
  state.whoami = whoami;
  $('signin-view').hidden = true;
  $('topbar').hidden = false;
  $('app').hidden = false;
  const operator = whoami.role === 'operator';
  $('role').textContent = operator ? 'operator' : `tenant ${whoami.tenant}`;
  $('role').className = `role role-${operator ? 'operator' : 'tenant'}`;
  $('nav-overview').hidden = !operator;
  $('nav-tenant').hidden = operator;
  if (!operator) {
    $('nav-tenant').href = `#/tenants/${encodeURIComponent(whoami.tenant)}`;
    $('nav-tenant').textContent = whoami.tenant;
  }
}

async function signIn(event) {
  event.preventDefault();
  const token = $('token').value.trim();
  const error = $('sign-in-error');
  if (!token) {
    error.textContent = 'Enter a token.';
    error.hidden = false;
    return;
  }
  const button = $('sign-in');
  button.disabled = true;
  error.hidden = true;
  try {
    const whoami = await api('/v1/admin/whoami', { token });
    session.set(token);
    $('token').value = '';
    showApp(whoami);
    const target =
      whoami.role === 'operator' ? location.hash || '#/' : `#/tenants/${encodeURIComponent(whoami.tenant)}`;
    if (location.hash === target) {
      route();
    } else {
      location.hash = target;
    }
  } catch (e) {
    error.textContent = describe(e);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  session.clear();
  history.replaceState(null, '', '#/');
  showSignIn();
}

function notFound(container, text) {
  container.append(
    h('section', { class: 'card page-error', id: 'not-found' }, h('p', { text }), h('a', { href: '#/', text: 'Back' })),
  );
  return () => {};
}

function route() {
  if (!state.whoami) {
    return;
  }
  stopPage();
  const app = $('app');
  app.replaceChildren();
  const whoami = state.whoami;
  const operator = whoami.role === 'operator';
  const hash = location.hash || '#/';
  const ctx = { whoami };
  let active = null;

  if (hash === '#/' || hash === '#') {
    if (!operator) {
      // Tenants have no overview: straight to their own page.
      location.replace(`#/tenants/${encodeURIComponent(whoami.tenant)}`);
      return;
    }
    state.stopPage = renderOverview(app, ctx);
    active = 'nav-overview';
  } else if (hash.startsWith('#/tenants/')) {
    let id;
    try {
      id = decodeURIComponent(hash.slice('#/tenants/'.length));
    } catch {
      id = '';
    }
    state.stopPage = id ? renderTenant(app, id) : notFound(app, 'No such page.');
    active = operator ? null : 'nav-tenant';
  } else if (hash === '#/phone') {
    state.stopPage = renderPhone(app, ctx);
    active = 'nav-phone';
  } else {
    state.stopPage = notFound(app, `No page at ${hash}.`);
  }
  for (const id of ['nav-overview', 'nav-tenant', 'nav-phone']) {
    $(id).classList.toggle('current', id === active);
  }
  window.scrollTo(0, 0);
}

async function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  window.addEventListener(UNAUTHORIZED, (e) => {
    session.clear();
    showSignIn(`Signed out: ${e.detail.message}`);
  });
  if (!session.token()) {
    showSignIn();
    return;
  }
  try {
    showApp(await api('/v1/admin/whoami'));
    route();
  } catch (e) {
    if (state.whoami === null && $('signin-view').hidden) {
      showSignIn(describe(e));
    }
  }
}

start();
