// Operators may be named by GitHub team (`CATALYST_OPERATORS=…,acme/platform`): a member
// of that team signs in as an operator, someone outside it as a member.
const { test, expect } = require('@playwright/test');
const { control, signIn, screenshotPath } = require('./support');

test('a member of an operator team signs in as an operator', async ({ page }) => {
  await control('/team-member', { org: 'acme', team: 'platform', login: 'teamlead' });
  await signIn(page, 'teamlead');
  await expect(page.locator('.user .role')).toHaveText('operator');
  await page.screenshot({ path: screenshotPath('team-operator'), fullPage: true });
});

test('someone outside the operator team signs in as a member', async ({ page }) => {
  await signIn(page, 'outsider');
  await expect(page.locator('.user .role')).toHaveText('member');
});
