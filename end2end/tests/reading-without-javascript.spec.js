// Reading works without JavaScript (server-side rendering), and the pages are readable
// in the dark colour scheme. Screenshots of both for review.
const { test, expect } = require('@playwright/test');
const { api, screenshotPath, control, pullRequest, MANY, openMany, rowNumbers } = require('./support');

const REPO = 'acme/docs';
const NUMBER = 7;

async function signInWithoutScript(page, login) {
  await control('/login-as', { login });
  await page.goto('/auth/github/login');
  await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
  await expect(page.locator(`[data-login="${login}"]`)).toBeVisible();
}

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the environments list and an environment page render on the server', async ({ page }) => {
    const created = await api('POST', '/repositories', { full_name: REPO });
    expect([201, 409]).toContain(created.status);
    await pullRequest({ repo: REPO, action: 'open', number: NUMBER, title: 'Fix typos', author: 'bob' });
    await signInWithoutScript(page, 'octocat');
    await expect(async () => {
      await page.goto(`/?repo=${encodeURIComponent(REPO)}`);
      await expect(page.locator('table.environments tbody tr')).toHaveCount(1, { timeout: 1_000 });
    }).toPass({ timeout: 20_000 });
    const row = page.locator('table.environments tbody tr');
    await expect(row).toContainText('Fix typos');
    await expect(page.locator('.totals')).toContainText('Active environments');
    await page.screenshot({ path: screenshotPath('no-js-environments'), fullPage: true });
    await row.locator('a.env-link').click();
    await expect(page.getByRole('heading', { name: 'Deployment history' })).toBeVisible();
    await expect(page.locator('.facts')).toContainText(`#${NUMBER}`);
    await expect(page.locator('noscript').first()).toBeAttached();
    await page.screenshot({ path: screenshotPath('no-js-environment'), fullPage: true });
  });

  test('the pager works without JavaScript and keeps the filter and sort', async ({ page }) => {
    await openMany();
    await signInWithoutScript(page, 'octocat');
    const position = page.locator('.pager-position');
    const url = `/?repo=${encodeURIComponent(MANY.repo)}&sort=oldest`;
    await expect(async () => {
      await page.goto(url);
      await expect(position).toContainText(`${MANY.count} environments`, { timeout: 1_000 });
    }).toPass({ timeout: 60_000 });
    await expect(position).toContainText('Page 1 of 2');
    const first = await rowNumbers(page);
    expect(first.length).toBe(50);
    await page.getByRole('link', { name: 'Next →' }).click();
    await expect(position).toContainText('Page 2 of 2');
    expect(page.url()).toContain('repo=acme%2Fmany');
    expect(page.url()).toContain('sort=oldest');
    await expect(page.locator('select[name="sort"]')).toHaveValue('oldest');
    const second = await rowNumbers(page);
    expect(second.length).toBe(MANY.count - 50);
    expect(second.filter((n) => first.includes(n))).toEqual([]);
    await expect(page.locator('.pager-next')).toHaveAttribute('aria-disabled', 'true');
    await page.screenshot({ path: screenshotPath('no-js-environments-page-2'), fullPage: true });
    // Out-of-range and unreadable page numbers: the last page, and the first.
    await page.goto(`${url}&page=99`);
    await expect(position).toContainText('Page 2 of 2');
    await page.goto(`${url}&page=zero`);
    await expect(position).toContainText('Page 1 of 2');
  });

  test('signed out, the dashboard asks to sign in', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Sign in to see environments' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'Sign in with GitHub' }).first()).toBeVisible();
    await page.screenshot({ path: screenshotPath('signed-out'), fullPage: true });
  });
});

test.describe('dark colour scheme', () => {
  test.use({ colorScheme: 'dark' });

  test('pages are readable in dark mode', async ({ page }) => {
    await control('/login-as', { login: 'octocat' });
    await page.goto('/auth/github/login');
    await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
    await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe('rgb(15, 18, 23)');
    await page.screenshot({ path: screenshotPath('dark-environments'), fullPage: true });
    await page.goto('/repositories');
    await expect(page.locator('[data-hydrated="true"]')).toBeVisible();
    await page.screenshot({ path: screenshotPath('dark-repositories'), fullPage: true });
  });
});
