// The environments page: a signed pull_request webhook for a configured repository makes
// an environment appear on `/`, rendered on the server and hydrated in the browser.
const { test, expect } = require('@playwright/test');
const { fixture, deliver, api, screenshotPath, signIn } = require('./support');

test('empty dashboard explains how to configure a repository', async ({ page }) => {
  const listed = await api('GET', '/repositories');
  test.skip(listed.body.items.length > 0, 'another test configured a repository first');
  await signIn(page);
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'No repositories configured' })).toBeVisible();
  await expect(page.getByText('/webhooks/github')).toBeVisible();
  await page.screenshot({ path: screenshotPath('environments-empty'), fullPage: true });
});

test('an environment created by a signed webhook is listed on /', async ({ page }) => {
  const opened = fixture('pull_request', 'opened.payload.json');
  const repo = opened.repository.full_name;
  const created = await api('POST', '/repositories', { full_name: repo });
  expect([201, 409]).toContain(created.status);

  const res = await deliver('pull_request', opened);
  expect(res.status).toBe(200);

  await signIn(page);
  await page.goto('/');
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  const row = page.locator('table.environments tbody tr').filter({ hasText: repo });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(`#${opened.pull_request.number}`);
  // The engine takes it from pending at once; any lifecycle state shows it is listed.
  await expect(row.locator('.chip')).toHaveText(/pending|deploying|ready|failed/);
  const repoName = opened.repository.name.toLowerCase();
  await expect(row.locator('code')).toHaveText(new RegExp(`^pr-${repoName}-${opened.pull_request.number}`));
  await page.screenshot({ path: screenshotPath('environments-list'), fullPage: true });
});
