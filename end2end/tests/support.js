// Helpers shared by the end-to-end tests: signed webhook delivery and API calls against
// the catalyst server that run.sh started.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const BASE = process.env.CATALYST_E2E_URL;
const SECRET = process.env.CATALYST_E2E_WEBHOOK_SECRET;
const TOKEN = process.env.CATALYST_E2E_TOKEN;
const FIXTURES = process.env.CATALYST_FIXTURES || path.join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'github-webhooks');

function fixture(event, name) {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, event, name), 'utf8'));
}

/** Posts `payload` exactly as GitHub would: HMAC-SHA256 over the exact bytes sent. */
async function deliver(event, payload) {
  const body = Buffer.from(JSON.stringify(payload));
  const signature = 'sha256=' + crypto.createHmac('sha256', SECRET).update(body).digest('hex');
  const res = await fetch(`${BASE}/webhooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/e2e',
      'x-github-event': event,
      'x-github-delivery': crypto.randomUUID(),
      'x-hub-signature-256': signature,
    },
    body,
  });
  return res;
}

async function api(method, route, body) {
  const res = await fetch(`${BASE}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const CONTROL = process.env.E2E_CONTROL_URL;
const GITHUB = process.env.CATALYST_GITHUB_API_URL;

/** Drives the doubles' control API (who signs in next, pods, log lines, metrics). */
async function control(route, body) {
  const res = await fetch(`${CONTROL}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok && res.status !== 409) throw new Error(`control ${route}: ${res.status} ${await res.text()}`);
  return res;
}

/** Changes a pull request in the GitHub double, which delivers the signed webhook. */
async function pullRequest(body) {
  const res = await fetch(`${GITHUB}/_testkit/pr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`pr ${JSON.stringify(body)}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Signs in through the GitHub OAuth web flow of the double as `login`. */
async function signIn(page, login = 'octocat') {
  await control('/login-as', { login });
  await page.goto('/auth/github/login');
  await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
  const { expect } = require('@playwright/test');
  await expect(page.locator(`[data-login="${login}"]`)).toBeVisible();
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
}

/** A repository with more environments than one page holds (50 a page). */
const MANY = { repo: 'acme/many', count: 55 };

/**
 * Configures `MANY.repo` and opens its pull requests 1..=MANY.count that are not open yet
 * (idempotent, so any test may call it first).
 */
async function openMany() {
  const created = await api('POST', '/repositories', { full_name: MANY.repo });
  if (![201, 409].includes(created.status)) throw new Error(`configure ${MANY.repo}: ${created.status}`);
  const listed = await api('GET', `/environments?repository=${encodeURIComponent(MANY.repo)}&limit=100`);
  const have = new Set((listed.body.items || []).map((e) => e.pr_number));
  for (let n = 1; n <= MANY.count; n++) {
    if (!have.has(n)) {
      await pullRequest({ repo: MANY.repo, action: 'open', number: n, title: `Change ${n}`, author: 'dana' });
    }
  }
}

/** The pull request numbers of the rows on the page, as shown (`#12` → 12). */
async function rowNumbers(page) {
  const links = await page.locator('table.environments tbody tr a.env-link').allTextContents();
  return links.map((t) => Number(t.trim().replace('#', '')));
}

function screenshotPath(name) {
  const dir = path.join(__dirname, '..', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}

module.exports = { fixture, deliver, api, screenshotPath, control, pullRequest, signIn, MANY, openMany, rowNumbers };
