// The environments page: a signed pull_request webhook for a configured repository makes
// an environment appear on `/`, rendered on the server and hydrated in the browser.
const { test, expect } = require('@playwright/test');
const { fixture, deliver, api, screenshotPath, signIn, pullRequest, MANY, openMany, rowNumbers } = require('./support');

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

test('more than 50 environments are paged; paging keeps the filter and rows update live', async ({ page }) => {
  await openMany();
  await signIn(page);
  const position = page.locator('.pager-position');
  await expect(async () => {
    await page.goto(`/?repo=${encodeURIComponent(MANY.repo)}`);
    await expect(position).toContainText(`${MANY.count} environments`, { timeout: 1_000 });
  }).toPass({ timeout: 60_000 });
  await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
  await expect(position).toContainText('Page 1 of 2');
  await expect(page.locator('table.environments tbody tr')).toHaveCount(50);
  const first = await rowNumbers(page);

  // Next page, by the router (no reload): the next rows, the filter still applied.
  await page.evaluate(() => { window.__samePage = true; });
  await page.getByRole('link', { name: 'Next →' }).click();
  await expect(position).toContainText('Page 2 of 2');
  expect(page.url()).toContain('repo=acme%2Fmany');
  expect(page.url()).toContain('page=2');
  await expect(page.locator('table.environments tbody tr')).toHaveCount(MANY.count - 50);
  await expect(page.locator('select[name="repo"]')).toHaveValue(MANY.repo);
  const second = await rowNumbers(page);
  expect(second.filter((n) => first.includes(n))).toEqual([]);
  expect(new Set([...first, ...second]).size).toBe(MANY.count);
  await page.screenshot({ path: screenshotPath('environments-page-2'), fullPage: true });

  // A push to a pull request on page 2 shows in its row without a reload.
  await expect(page.locator('.live-state')).toContainText('Live', { timeout: 15_000 });
  const number = second[0];
  const sha = `feedbee${String(Date.now()).padStart(33, '0')}`.slice(0, 40);
  await pullRequest({ repo: MANY.repo, action: 'push', number, sha });
  const row = page.locator('table.environments tbody tr').filter({ hasText: `#${number}` });
  await expect(row.locator('.sha')).toHaveText(sha.slice(0, 7), { timeout: 20_000 });
  await expect(position).toContainText('Page 2 of 2');
  expect(await page.evaluate(() => window.__samePage)).toBe(true);

  await page.getByRole('link', { name: '← Previous' }).click();
  await expect(position).toContainText('Page 1 of 2');
  await expect(page.locator('table.environments tbody tr')).toHaveCount(50);
});
