const { test } = require('@playwright/test');
const { control } = require('./support');
test('debug', async ({ page }) => {
  page.on('console', (m) => console.log('CONSOLE', m.type(), m.text().slice(0, 800)));
  page.on('pageerror', (e) => console.log('PAGEERROR', e.message.slice(0, 800)));
  await control('/login-as', { login: 'octocat' });
  await page.goto('/auth/github/login');
  await page.waitForTimeout(3000);
});
