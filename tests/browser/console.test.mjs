// The console in a real (headless) Chromium against a running callflow-host.
//
//   CONSOLE_URL      http://127.0.0.1:PORT (the console is at CONSOLE_URL/console)
//   OPERATOR_TOKEN   the operator's token
//   TENANT_TOKEN     the admin token of tenant `masking-demo`
//   IVR_WASM         an IVR component that differs from ivr-demo's active version
//   SEND_EVENTS_URL  optional: ivr-demo's webhook URL, for the live chart test
//   ARTIFACTS        optional: a directory for full-page screenshots
//   CHROMIUM         optional: the browser (default /usr/bin/chromium)
//
// Run: node --test --test-concurrency=1 console.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} must be set`);
  }
  return value;
}

const BASE = env('CONSOLE_URL').replace(/\/+$/, '');
const CONSOLE = `${BASE}/console`;
const OPERATOR_TOKEN = env('OPERATOR_TOKEN');
const TENANT_TOKEN = env('TENANT_TOKEN');
const IVR_WASM = env('IVR_WASM');
const SEND_EVENTS_URL = process.env.SEND_EVENTS_URL || '';
const ARTIFACTS = process.env.ARTIFACTS || '';
// Waits for the page; SLOW for what compiles a component (upload, activate, a first call).
const WAIT = 30_000;
const SLOW = 120_000;
const TEST = { timeout: 300_000 };

let browser;

before(async () => {
  if (ARTIFACTS) {
    await mkdir(ARTIFACTS, { recursive: true });
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
});

after(async () => {
  await browser?.close();
});

/** A fresh browser context and page, recording script errors and CSP violations. */
async function open() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) {
      problems.push(`CSP: ${msg.text()}`);
    }
  });
  return {
    page,
    async close() {
      await context.close();
      assert.deepEqual(problems, [], 'the page had script errors or CSP violations');
    },
  };
}

async function screenshot(page, name) {
  if (ARTIFACTS) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  }
}

async function signIn(page, token) {
  await page.goto(CONSOLE);
  await page.locator('#token').fill(token);
  await page.locator('#sign-in').click();
  await page.locator('#topbar').waitFor({ state: 'visible' });
}

/** Runs `fn` in the page until it returns true. */
function until(page, fn, arg, timeout = WAIT) {
  return page.waitForFunction(fn, arg, { timeout, polling: 100 });
}

function sampleWebhook() {
  const id = randomBytes(8).toString('hex');
  return {
    namespace: 'VOICE',
    eventType: 'CALL_ACTION',
    description: 'Action request of a call',
    payload: {
      eventId: `e-${id}`,
      callId: `c-${id}`,
      sessionId: `s-${id}`,
      subAccountId: '8x8_test',
      callStatus: 'ACTION_COMPLETED',
      callDirection: 'INBOUND',
      callType: 'PSTN',
      source: '+6591178965',
      destination: '+6568332048',
      clientActionId: 'main_menu',
      eventData: { dtmf: '1' },
      callDuration: 4,
      sipCode: 200,
      timestamp: new Date().toISOString(),
    },
  };
}

test('sign-in refuses a wrong token and the operator sees every tenant', TEST, async () => {
  const { page, close } = await open();
  await page.goto(CONSOLE);
  await page.locator('#token').fill(`wrong-${randomBytes(6).toString('hex')}`);
  await page.locator('#sign-in').click();
  const error = page.locator('#sign-in-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /\S/, 'the sign-in error says something');
  assert.equal(await page.locator('#topbar').isVisible(), false, 'still signed out');
  await screenshot(page, 'signin.png');

  await page.locator('#token').fill(OPERATOR_TOKEN);
  await page.locator('#sign-in').click();
  for (const tenant of ['ivr-demo', 'masking-demo']) {
    const row = page.locator(`#tenants tr[data-tenant="${tenant}"]`);
    await row.waitFor({ state: 'visible' });
    assert.equal((await row.locator('a').first().textContent()).trim(), tenant);
  }
  assert.match(await page.locator('#role').textContent(), /operator/);
  assert.equal(await error.isVisible(), false);
  const stored = await page.evaluate(() => [sessionStorage.getItem('callflow.token'), localStorage.length, document.cookie]);
  assert.deepEqual(stored, [OPERATOR_TOKEN, 0, ''], 'the token lives in sessionStorage only');
  await screenshot(page, 'overview.png');
  await close();
});

test('upload a version, activate it and roll back, confirming in the dialog', TEST, async () => {
  const { page, close } = await open();
  const bytes = await readFile(IVR_WASM);
  const uploaded = createHash('sha256').update(bytes).digest('hex');
  await signIn(page, OPERATOR_TOKEN);
  await page.goto(`${CONSOLE}#/tenants/ivr-demo`);
  await page.locator('#tenant-page #versions tr.row-active[data-digest]').waitFor();
  const previous = await page.locator('#versions tr.row-active').getAttribute('data-digest');
  assert.notEqual(previous, uploaded, 'IVR_WASM must differ from the active version');

  // Upload without activating: a new, inactive row.
  await page.locator('#upload-activate').uncheck();
  await page.locator('#upload-file').setInputFiles(IVR_WASM);
  const message = page.locator('#upload-message');
  await until(page, () => /message-(ok|error)/.test(document.getElementById('upload-message').className), undefined, SLOW);
  assert.match(await message.getAttribute('class'), /message-ok/, `upload failed: ${await message.textContent()}`);
  assert.equal(await message.locator('.new-digest').getAttribute('title'), uploaded);
  const row = page.locator(`#versions tr[data-digest="${uploaded}"]`);
  await row.waitFor();
  await row.locator('button.activate').waitFor();
  assert.equal(await page.locator('#versions tr.row-active').getAttribute('data-digest'), previous);

  // Cancel changes nothing.
  const dialog = page.locator('dialog#confirm');
  await row.locator('button.activate').click();
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#confirm-no').click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#versions tr.row-active').getAttribute('data-digest'), previous);

  // Activate.
  await row.locator('button.activate').click();
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#confirm-yes').click();
  await page.locator(`#versions tr.row-active[data-digest="${uploaded}"]`).waitFor({ timeout: SLOW });
  await until(page, () => /Activated/.test(document.getElementById('versions-message').textContent));
  await until(page, (d) => document.getElementById('tenant-version').textContent === d, uploaded.slice(0, 12));

  // Roll back.
  await page.locator('#rollback').click();
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#confirm-yes').click();
  await page.locator(`#versions tr.row-active[data-digest="${previous}"]`).waitFor({ timeout: SLOW });
  await until(page, () => /Rolled back/.test(document.getElementById('versions-message').textContent));
  await page.locator(`#versions tr[data-digest="${uploaded}"] button.activate`).waitFor();
  await close();
});

test('the live chart shows the webhooks as they come', TEST, async (t) => {
  if (!SEND_EVENTS_URL) {
    t.skip('SEND_EVENTS_URL is not set');
    return;
  }
  const { page, close } = await open();
  await signIn(page, OPERATOR_TOKEN);
  await page.goto(`${CONSOLE}#/tenants/ivr-demo`);
  await page.locator('#chart-rate[data-peak]').waitFor({ state: 'attached' });
  await page.locator('#chart-latency[data-peak]').waitFor({ state: 'attached' });
  await page.locator('#chart-failures[data-peak]').waitFor({ state: 'attached' });

  for (let i = 0; i < 20; i += 1) {
    const response = await fetch(SEND_EVENTS_URL, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(sampleWebhook()),
    });
    assert.equal(response.status, 200, `webhook ${i}: ${await response.text()}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }

  await until(page, () => Number(document.getElementById('chart-rate').dataset.peak) > 0);
  await until(page, () => parseFloat(document.getElementById('tenant-rate').textContent.replace('<', '')) > 0);
  await until(page, () => document.querySelectorAll('#chart-rate path.line').length > 0);
  await until(page, () => document.querySelectorAll('#chart-latency path.line, #chart-latency circle.dot').length > 0);
  const latest = await page.locator('#chart-rate .chart-latest').textContent();
  assert.match(latest, /\/s/, 'the rate chart shows its latest value');
  await screenshot(page, 'tenant.png');
  await close();
});

test('the dev phone books a table through the IVR', TEST, async () => {
  const { page, close } = await open();
  await signIn(page, OPERATOR_TOKEN);
  await page.goto(`${CONSOLE}#/phone`);
  await page.locator('#phone-tenant option[value="ivr-demo"]').waitFor({ state: 'attached' });
  await page.locator('#phone-tenant').selectOption('ivr-demo');
  await until(page, () => document.querySelectorAll('#phone-version option').length > 1);
  assert.equal(await page.locator('#phone-caller').inputValue(), '+6591178965');
  assert.equal(await page.locator('#phone-dialled').inputValue(), '+6568332048');
  // What the page hands to speech synthesis (headless Chromium has no audio to check).
  const speaks = await page.evaluate(() => {
    window.spoken = [];
    const speech = window.speechSynthesis;
    if (!speech) {
      return false;
    }
    const speak = speech.speak.bind(speech);
    speech.speak = (utterance) => {
      window.spoken.push(utterance.text);
      speak(utterance);
    };
    return true;
  });
  assert.ok(speaks, 'the browser has speech synthesis');
  await page.locator('#phone-call').click();

  for (let prompt = 1; prompt <= 3; prompt += 1) {
    await until(
      page,
      (n) =>
        document.getElementById('phone-status').dataset.state === 'prompt' &&
        document.querySelectorAll('#phone-transcript .entry-prompt').length >= n,
      prompt,
      SLOW,
    );
    assert.match(await page.locator('#phone-status').textContent(), /at prompt: try 1 of \d/);
    // The keypad, and the keyboard's keys as well.
    if (prompt === 2) {
      await page.keyboard.press('1');
    } else {
      await page.locator('button.key[data-key="1"]').click();
    }
  }

  await page.locator('#phone-transcript .entry-hears', { hasText: 'booked your table for today' }).waitFor({ timeout: SLOW });
  await until(page, () => /^call ended/.test(document.getElementById('phone-status').textContent));
  assert.match(await page.locator('#phone-status').textContent(), /hung up/);
  assert.ok((await page.locator('#phone-transcript .entry-webhook').count()) >= 3, 'each webhook is shown');
  assert.match(await page.locator('#phone-transcript .entry-webhook .cost-fuel').first().textContent(), /fuel [\d,]+ of [\d,]+ \(/);
  const json = JSON.parse(await page.locator('#phone-json').inputValue());
  assert.ok(Array.isArray(json.entries) && json.entries.length > 0, 'the transcript has entries');
  assert.equal(json.passed, true);
  const spoken = await page.evaluate(() => window.spoken);
  assert.match(spoken[0], /^Welcome to ABC Restaurant/, 'the first prompt is spoken');
  assert.ok(spoken.includes('We have booked your table for today, thank you.'), `spoken: ${spoken}`);
  assert.equal(await page.locator('#phone-hangup').isDisabled(), true);
  await screenshot(page, 'phone.png');
  await close();
});

test('a tenant token sees only its own tenant', TEST, async () => {
  const { page, close } = await open();
  await signIn(page, TENANT_TOKEN);
  await until(page, () => location.hash === '#/tenants/masking-demo');
  await until(page, () => document.getElementById('tenant-id')?.textContent === 'masking-demo');
  await page.locator('#versions tr[data-digest]').first().waitFor();
  assert.match(await page.locator('#role').textContent(), /masking-demo/);
  assert.equal(await page.locator('#nav-overview').isVisible(), false, 'no overview link');
  await screenshot(page, 'tenant-token.png');

  // The overview is not there for a tenant: it lands back on its own page.
  await page.goto(`${CONSOLE}#/`);
  await until(page, () => location.hash === '#/tenants/masking-demo');
  assert.equal(await page.locator('#tenants').count(), 0, 'no tenants table');

  // Another tenant's page: a forbidden error and none of its data.
  await page.goto(`${CONSOLE}#/tenants/ivr-demo`);
  const error = page.locator('#tenant-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /403/);
  assert.equal(await page.locator('#versions').count(), 0);
  assert.equal(await page.locator('#tenant-version').count(), 0);

  // The phone offers only its own tenant.
  await page.goto(`${CONSOLE}#/phone`);
  await page.locator('#phone-tenant option').first().waitFor({ state: 'attached' });
  assert.deepEqual(await page.locator('#phone-tenant option').evaluateAll((os) => os.map((o) => o.value)), ['masking-demo']);

  const status = await page.evaluate(
    async (token) => (await fetch('/v1/admin/tenants/ivr-demo/versions', { headers: { Authorization: `Bearer ${token}` } })).status,
    TENANT_TOKEN,
  );
  assert.equal(status, 403);
  await close();
});
