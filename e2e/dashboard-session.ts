/** The dashboard as an operator reaches it in the e2e specs: errors watched, signed in, connected. */
import { expect, type Page } from '@playwright/test';

/** Collects the page's uncaught errors and console errors; a spec asserts the list is empty at its end. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/** Opens `url` + `path` (the dashboard, perhaps with a #job=), signs in with `token` and waits for the live socket. */
export async function signIn(page: Page, url: string, token: string, path = '/dashboard'): Promise<void> {
  await page.goto(url + path);
  await page.getByLabel('Operator token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#connection')).toHaveText(/connected/);
}
