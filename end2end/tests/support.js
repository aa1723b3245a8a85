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

function screenshotPath(name) {
  const dir = path.join(__dirname, '..', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.png`);
}

module.exports = { fixture, deliver, api, screenshotPath };
