// The signed-in dashboard against catalyst + the testkit doubles: sign in with GitHub,
// watch an environment appear as its webhook arrives, open it, follow its logs live,
// redeploy, see a non-operator refused, delete it and see it disappear.
const { test, expect } = require('@playwright/test');
const { api, screenshotPath, control, pullRequest, signIn } = require('./support');

test.describe.configure({ mode: 'serial' });

const REPO = 'acme/web';
const NUMBER = 101;
let envPath = null;
let namespace = null;

test('sign in with GitHub shows who is signed in', async ({ page }) => {
  await signIn(page, 'octocat');
  await expect(page.locator('.user .role')).toHaveText('operator');
  await page.screenshot({ path: screenshotPath('signed-in'), fullPage: true });
});

test('environments appear live as webhooks arrive', async ({ page }) => {
  const created = await api('POST', '/repositories', { full_name: REPO, health_path: '/' });
  expect([201, 409]).toContain(created.status);
  await signIn(page, 'octocat');
  await page.goto('/');
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.locator('.totals')).toBeVisible();
  // No reload from here on: the row must arrive over the live channel.
  await pullRequest({ repo: REPO, action: 'open', number: NUMBER, title: 'Add search box', author: 'alice' });
  const row = page.locator('table.environments tbody tr').filter({ hasText: REPO }).filter({ hasText: `#${NUMBER}` });
  await expect(row).toHaveCount(1, { timeout: 20_000 });
  await expect(row).toContainText('Add search box');
  namespace = (await row.locator('code').textContent()).trim();
  envPath = await row.locator('a.env-link').getAttribute('href');
  expect(envPath).toMatch(/^\/environments\//);
  await page.screenshot({ path: screenshotPath('environments-live'), fullPage: true });

  // Filters live in the URL and work on the rendered rows.
  await page.goto(`/?q=${encodeURIComponent('search box')}&sort=usage`);
  await expect(page.locator('table.environments tbody tr')).toHaveCount(1);
  await page.goto('/?status=deleted');
  await expect(page.getByRole('heading', { name: 'No environment matches the filter' })).toBeVisible();
});

test('the environment page follows container logs live', async ({ page }) => {
  expect(envPath).not.toBeNull();
  await control('/pod', { namespace, name: 'web-e2e', container: 'web' });
  await control('/metrics', { namespace, pod: 'web-e2e', container: 'web', cpu: '120m', memory: '96Mi' });
  await signIn(page, 'octocat');
  // The pod table is rendered with the page: reload until the new pod runs.
  await expect(async () => {
    await page.goto(envPath);
    await expect(page.locator('table.pods tr[data-pod="web-e2e"]')).toContainText('running', { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Deployment history' })).toBeVisible();
  await control('/log', { namespace, pod: 'web-e2e', container: 'web', lines: ['booting web', 'listening on :8080'] });
  await page.locator('select[name="container"]').selectOption('web-e2e/web');
  const logs = page.locator('.log-scroll');
  await expect(logs).toContainText('listening on :8080', { timeout: 15_000 });
  for (let i = 1; i <= 3; i++) {
    await control('/log', { namespace, pod: 'web-e2e', container: 'web', lines: [`GET /search?q=${i} 200`] });
  }
  await expect(logs).toContainText('GET /search?q=3 200', { timeout: 15_000 });
  await page.locator('input[name="filter"]').fill('search');
  await expect(logs.locator('mark').first()).toHaveText('search');
  // Download gives the raw log as a text file.
  const href = await page.getByRole('link', { name: 'Download' }).getAttribute('href');
  const file = await page.request.get(href);
  expect(file.headers()['content-disposition']).toContain('attachment');
  expect(await file.text()).toContain('listening on :8080');
  await page.screenshot({ path: screenshotPath('environment-logs'), fullPage: true });
});

test('a flood of log lines stays bounded and the viewer keeps up', async ({ page }) => {
  await signIn(page, 'octocat');
  await page.goto(envPath);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.locator('select[name="container"]').selectOption('web-e2e/web');
  await expect(page.locator('[data-log-status]')).toHaveText('Following live', { timeout: 15_000 });
  // 10,000 lines at 5,000 lines/s.
  await control('/flood', { namespace, pod: 'web-e2e', container: 'web', lines: 10_000, per_second: 5_000 });
  const logs = page.locator('.log-scroll');
  await expect(logs).toContainText('flood line 09999', { timeout: 30_000 });
  expect(await page.locator('.log-line').count()).toBeLessThanOrEqual(5_000);
  await expect(page.locator('.log-status')).toContainText('older lines dropped from view');
  // Still interactive: pause and resume answer at once.
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('button', { name: 'Resume' })).toBeVisible();
  await page.getByRole('button', { name: 'Resume' }).click();
  await page.screenshot({ path: screenshotPath('environment-logs-flood'), fullPage: true });
});

test('the log viewer survives a container restart and says so', async ({ page }) => {
  await control('/pod', { namespace, name: 'crash-e2e', container: 'app' });
  await signIn(page, 'octocat');
  await expect(async () => {
    await page.goto(envPath);
    await expect(page.locator('table.pods tr[data-pod="crash-e2e"]')).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.locator('select[name="container"]').selectOption('crash-e2e/app');
  const logs = page.locator('.log-scroll');
  await expect(logs).toContainText('panic: boom', { timeout: 20_000 });
  await expect(logs.locator('.log-line.notice').first()).toContainText(/restarted|ended|could not be opened/, { timeout: 30_000 });
  // The next instance is followed again, and the reader is told.
  await expect(logs).toContainText('Reconnected to crash-e2e/app', { timeout: 45_000 });
  await page.screenshot({ path: screenshotPath('environment-logs-restart'), fullPage: true });
});

test('redeploy asks the engine for a new attempt', async ({ page }) => {
  await signIn(page, 'octocat');
  await page.goto(envPath);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await page.getByRole('button', { name: 'Redeploy' }).click();
  await expect(page.getByText(/Done\.|A redeploy was requested/).first()).toBeVisible({ timeout: 15_000 });
  await page.screenshot({ path: screenshotPath('environment-redeploy'), fullPage: true });
});

test('a collaborator with push access may redeploy', async ({ page }) => {
  await control('/collaborator', { repo: REPO, login: 'carol', role: 'write' });
  await signIn(page, 'carol');
  await expect(page.locator('.user .role')).toHaveText('member');
  await page.goto(envPath);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Delete environment' })).toBeVisible();
  await page.getByRole('button', { name: 'Redeploy' }).click();
  await expect(page.getByText(/Done\.|A redeploy was requested/).first()).toBeVisible({ timeout: 15_000 });
});

test('a non-operator is refused deletion on someone else\'s repository', async ({ page }) => {
  await signIn(page, 'mallory');
  await expect(page.locator('.user .role')).toHaveText('member');
  await page.goto(envPath);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.getByText('Redeploy and delete need an operator')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Delete environment' })).toHaveCount(0);
  // The server refuses too, whatever the page shows.
  const csrf = await page.locator('form[action="/auth/logout"] input[name="csrf"]').getAttribute('value');
  const id = envPath.split('/').pop();
  const answer = await page.evaluate(async ({ id, csrf }) => {
    const res = await fetch('/api/delete_environment', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ id, csrf }).toString(),
    });
    return { status: res.status, text: await res.text() };
  }, { id, csrf });
  expect(answer.status).toBeGreaterThanOrEqual(400);
  expect(answer.text).toContain('Only operators');
  // And a wrong CSRF token is refused before anything else.
  const forged = await page.evaluate(async ({ id }) => {
    const res = await fetch('/api/delete_environment', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ id, csrf: 'forged' }).toString(),
    });
    return res.text();
  }, { id });
  expect(forged).toContain('CSRF');
  await page.screenshot({ path: screenshotPath('environment-non-operator'), fullPage: true });
});

test('delete, confirm, and the environment disappears', async ({ page }) => {
  await signIn(page, 'octocat');
  await page.goto(envPath);
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  // Keyboard: Enter opens the confirmation with "Yes, delete" focused; Escape closes it
  // and gives focus back.
  const opener = page.getByRole('button', { name: 'Delete environment' });
  await opener.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('button', { name: 'Yes, delete' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('alertdialog', { name: 'Confirm deletion' })).toBeHidden();
  await expect(opener).toBeFocused();
  await opener.click();
  await expect(page.getByRole('alertdialog', { name: 'Confirm deletion' })).toBeVisible();
  await page.screenshot({ path: screenshotPath('environment-delete-confirm'), fullPage: true });
  await page.getByRole('button', { name: 'Yes, delete' }).click();
  await Promise.race([
    page.waitForURL((u) => u.pathname === '/', { timeout: 15_000 }),
    page.getByText('Done.').waitFor({ timeout: 15_000 }),
  ]);
  await page.goto('/');
  const row = page.locator('table.environments tbody tr').filter({ hasText: REPO }).filter({ hasText: `#${NUMBER}` });
  await expect(row).toHaveCount(0, { timeout: 45_000 });
  await page.screenshot({ path: screenshotPath('environments-after-delete'), fullPage: true });
});

test('repositories page validates fields', async ({ page }) => {
  await signIn(page, 'octocat');
  await page.goto('/repositories');
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(page.locator(`tr[data-repository="${REPO}"]`)).toBeVisible();
  await page.locator('input[name="form[full_name]"]').fill('acme/api');
  await page.locator('input[name="form[quota_cpu]"]').fill('lots');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('#err-quota_cpu')).toContainText('not a Kubernetes quantity');
  await page.locator('input[name="form[quota_cpu]"]').fill('500m');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('tr[data-repository="acme/api"]')).toBeVisible({ timeout: 10_000 });
  await page.screenshot({ path: screenshotPath('repositories'), fullPage: true });
});

test('create environment from the form for a known open pull request', async ({ page }) => {
  await signIn(page, 'octocat');
  await page.goto('/');
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  const form = page.locator('.create-environment');
  await expect(form.getByRole('heading', { name: 'Create environment' })).toBeVisible();
  // A pull request Catalyst does not know: the message sits next to the field.
  await form.locator('input[name="repository"]').fill(REPO);
  await form.locator('input[name="pr_number"]').fill('9999');
  await form.getByRole('button', { name: 'Create environment' }).click();
  await expect(page.locator('#err-create-pr_number')).toContainText('does not know pull request #9999', { timeout: 15_000 });
  // A repository that is not configured.
  await form.locator('input[name="repository"]').fill('acme/unknown');
  await form.locator('input[name="pr_number"]').fill(String(NUMBER));
  await form.getByRole('button', { name: 'Create environment' }).click();
  await expect(page.locator('#err-create-repository')).toContainText('not configured', { timeout: 15_000 });
  // The open pull request whose environment was deleted above gets it back.
  await form.locator('input[name="repository"]').fill(REPO);
  await form.getByRole('button', { name: 'Create environment' }).click();
  const opened = form.getByRole('link', { name: 'Open it' });
  await expect(opened).toBeVisible({ timeout: 15_000 });
  expect(await opened.getAttribute('href')).toMatch(/^\/environments\//);
  await expect(async () => {
    await page.goto('/');
    const row = page.locator('table.environments tbody tr').filter({ hasText: REPO }).filter({ hasText: `#${NUMBER}` });
    await expect(row).toHaveCount(1, { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await page.screenshot({ path: screenshotPath('environment-create'), fullPage: true });
});

test('delete a repository: refused while it has environments, done when it has none', async ({ page }) => {
  await signIn(page, 'octocat');
  await page.goto('/repositories');
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  // acme/web has an environment again: the 409 is shown.
  const web = page.locator(`tr[data-repository="${REPO}"]`);
  await web.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(web.getByRole('alertdialog')).toBeVisible();
  await web.getByRole('button', { name: 'Yes, delete repository' }).click();
  await expect(page.getByText(`repository ${REPO} still has`)).toBeVisible({ timeout: 15_000 });
  await expect(page.locator(`tr[data-repository="${REPO}"]`)).toBeVisible();
  // acme/api (configured by the previous test) has none: it goes.
  const apiRow = page.locator('tr[data-repository="acme/api"]');
  await apiRow.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(apiRow.getByRole('alertdialog')).toBeVisible();
  await page.screenshot({ path: screenshotPath('repository-delete-confirm'), fullPage: true });
  await apiRow.getByRole('button', { name: 'Yes, delete repository' }).click();
  await expect(page.getByText('Repository deleted.')).toBeVisible({ timeout: 15_000 });
  await expect(page.locator('tr[data-repository="acme/api"]')).toHaveCount(0, { timeout: 10_000 });
  // The JSON API agrees: the same service action removed it.
  expect((await api('GET', '/repositories/acme/api')).status).toBe(404);
});
