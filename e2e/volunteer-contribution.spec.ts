/**
 * Contribution that lasts (issue 14, defect 5 and what BOINC volunteers expect): the
 * browser keeps an anonymous volunteer id, the coordinator adds up its accepted work,
 * and the page shows those totals after a reload; an opt-in display name and team,
 * checked and shown as text on the public leaderboard, where everyone else is one
 * anonymous row. The pages fit 390 to 1920 px wide.
 */
import { expect, test, type Page } from '@playwright/test';
import type { VolunteerRecord } from '../shared/volunteer-protocol.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'lasting', model: 'mlp' });
});
test.afterAll(async () => run?.close());

const idOf = (page: Page) => page.evaluate(() => localStorage.getItem('downpour.volunteer-id'));
const shownNumber = async (page: Page, id: string) => Number(((await page.locator(`#${id}`).textContent()) ?? '').replace(/\D/g, ''));

async function recordOf(id: string): Promise<VolunteerRecord> {
  return (await (await fetch(`${run.url}/api/volunteers/${id}`)).json()) as VolunteerRecord;
}

test('the totals last across reloads: the page shows what the coordinator counted for this browser', async ({ context, browser }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  const id = await idOf(w.page);
  expect(id).toMatch(/^[0-9a-f]{32}$/);
  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(async () => (await w.status()).pushesAccepted, { timeout: 60_000 }).toBeGreaterThan(3);
  // Time counts between accepted pushes; a fast machine makes several within a second,
  // which the page rightly shows as "0 s". Train until the coordinator has stored a second.
  await expect.poll(async () => (await recordOf(id!)).computeSeconds, { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
  await w.page.getByRole('button', { name: 'Pause' }).click();
  await expect.poll(async () => (await w.status()).state).toBe('paused');

  await w.page.reload();
  expect(await idOf(w.page)).toBe(id);
  const counted = (await recordOf(id!)).examples;
  expect(counted).toBeGreaterThan(0);
  // This visit starts from zero; the lasting totals do not.
  await expect(w.page.locator('#examples')).toHaveText('0');
  await expect.poll(() => shownNumber(w.page, 'lasting-examples')).toBe(counted);
  await expect(w.page.locator('#lasting-time')).not.toHaveText('0 s');
  await expect(w.page.locator('#lasting-jobs')).toContainText('lasting');

  // Another browser profile is another volunteer.
  const other = await browser.newContext();
  const v = await openWorker(other, run.url, { backend: 'wasm' });
  expect(await idOf(v.page)).not.toBe(id);
  await expect(v.page.locator('#lasting-jobs')).toHaveText('none yet');
  await closeAndCheck([w, v]);
  await other.close();
});

test('an opt-in name and team, checked, on the leaderboard as text; the others one anonymous row', async ({ context, browser }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(async () => (await w.status()).pushesAccepted, { timeout: 60_000 }).toBeGreaterThan(0);

  // A name too long: refused in the page, focus on the field.
  await w.page.getByLabel('Display name').fill('x'.repeat(40));
  await w.page.getByRole('button', { name: 'Save' }).click();
  await expect(w.page.locator('#profile-status')).toContainText('at most 32');
  await expect(w.page.getByLabel('Display name')).toBeFocused();
  await expect(w.page.getByLabel('Display name')).toHaveAttribute('aria-invalid', 'true');

  const markup = '<img src=x onerror=pwned=1>';
  await w.page.getByLabel('Display name').fill(markup);
  await w.page.getByLabel('Team').fill('Night <b>owls</b>');
  await w.page.getByRole('button', { name: 'Save' }).click();
  await expect(w.page.locator('#profile-status')).toHaveText(`Saved. The leaderboard shows you as “${markup}” in team “Night <b>owls</b>”.`);

  // A volunteer in another browser who chose no name.
  const other = await browser.newContext();
  const anon = await openWorker(other, run.url, { backend: 'wasm', autostart: '1' });
  await expect.poll(async () => (await anon.status()).pushesAccepted, { timeout: 60_000 }).toBeGreaterThan(0);

  const board = await context.newPage();
  const errors: string[] = [];
  board.on('pageerror', (e) => errors.push(e.message));
  await board.goto(`${run.url}/leaderboard`);
  const first = board.locator('#volunteers tbody tr').first();
  await expect(first.locator('td').nth(1)).toHaveText(markup);
  await expect(first.locator('td').nth(2)).toHaveText('Night <b>owls</b>');
  await expect(board.locator('#volunteers tbody')).toContainText(/anonymous \(\d+ volunteers?\)/);
  await expect(board.locator('#teams tbody tr').first()).toContainText('Night <b>owls</b>');
  expect(await board.locator('img, b').count()).toBe(0);
  expect(await board.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  // No volunteer id is ever shown, so none can be learned and claimed.
  const html = await board.content();
  expect(html).not.toContain((await idOf(w.page))!);
  expect(html).not.toContain((await idOf(anon.page))!);
  expect(errors).toEqual([]);
  await board.close();
  await closeAndCheck([w, anon]);
  await other.close();
});

/** No sideways scroll; every text field and list at least 120 px wide and inside the window. */
async function checkLayout(page: Page, width: number): Promise<void> {
  const m = await page.evaluate(() => ({
    scrollWidth: document.scrollingElement!.scrollWidth,
    innerWidth,
    fields: [...document.querySelectorAll<HTMLElement>('input:not([type=checkbox]):not([type=radio]), select, textarea')]
      .filter((e) => e.offsetParent !== null)
      .map((e) => ({ id: e.id, left: e.getBoundingClientRect().left, right: e.getBoundingClientRect().right, width: e.getBoundingClientRect().width })),
  }));
  expect(m.scrollWidth, `page scrolls sideways at ${width} px`).toBeLessThanOrEqual(m.innerWidth);
  for (const f of m.fields) {
    expect(f.width, `#${f.id} at ${width} px`).toBeGreaterThanOrEqual(120);
    expect(f.left, `#${f.id} at ${width} px`).toBeGreaterThanOrEqual(0);
    expect(f.right, `#${f.id} at ${width} px`).toBeLessThanOrEqual(m.innerWidth);
  }
}

test('the volunteer page and the leaderboard fit 390, 768, 1280 and 1920 px', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  const board = await context.newPage();
  await board.goto(`${run.url}/leaderboard`);
  await expect(board.locator('#board-status')).toContainText('As of');
  for (const [name, page] of [['volunteer', w.page], ['leaderboard', board]] as const) {
    for (const width of [390, 768, 1280, 1920]) {
      await page.setViewportSize({ width, height: 900 });
      await checkLayout(page, width);
      await page.screenshot({ path: test.info().outputPath(`${name}-${width}.png`), fullPage: true });
    }
  }
  await board.close();
  await closeAndCheck([w]);
});
