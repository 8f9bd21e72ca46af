/**
 * The layout check every page passes at phone, tablet, laptop and desktop widths: the
 * page never scrolls sideways, and every visible text input, select and textarea is
 * at least MIN_CONTROL_WIDTH wide and inside the viewport (checkboxes and radios are
 * exempt). A screenshot of each width is kept under test-results/.
 *
 *   await checkLayout(page, 'dashboard-signed-in');
 */
import { expect, test, type Page } from '@playwright/test';

export const LAYOUT_WIDTHS = [390, 768, 1280, 1920] as const;
export const MIN_CONTROL_WIDTH = 120;

interface ControlBox {
  control: string;
  width: number;
  left: number;
  right: number;
}

interface Measured {
  scrollWidth: number;
  innerWidth: number;
  clientWidth: number;
  controls: ControlBox[];
}

/** Two frames after a resize: layout, ResizeObservers (the charts) and their re-layout have run. */
async function settled(page: Page): Promise<void> {
  await page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
}

function measure(page: Page): Promise<Measured> {
  return page.evaluate(() => {
    const exempt = new Set(['checkbox', 'radio', 'hidden']);
    const controls = [...document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>('input, select, textarea')]
      .filter((el) => !(el instanceof HTMLInputElement && exempt.has(el.type)))
      .filter((el) => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
      })
      .map((el) => {
        const r = el.getBoundingClientRect();
        const name = el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}[name=${el.getAttribute('name') ?? '?'}]`;
        return { control: name, width: Math.round(r.width), left: Math.round(r.left), right: Math.round(r.right) };
      });
    return {
      scrollWidth: document.scrollingElement!.scrollWidth,
      innerWidth: window.innerWidth,
      clientWidth: document.documentElement.clientWidth,
      controls,
    };
  });
}

/**
 * Resizes `page` to each width (height 900), checks it and saves `<name>-<width>.png`
 * in the test's output folder. `prepare` runs after each resize, before measuring
 * (to open a disclosure, say). Failures are soft: every width and every page of the
 * test is checked and shot before the test fails.
 */
export async function checkLayout(page: Page, name: string, prepare?: (page: Page) => Promise<void>): Promise<void> {
  for (const width of LAYOUT_WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    await settled(page);
    await prepare?.(page);
    await settled(page);
    const m = await measure(page);
    await page.screenshot({ path: test.info().outputPath(`${name}-${width}.png`), fullPage: true });
    const where = `${name} at ${width} px`;
    expect.soft(m.scrollWidth, `${where}: the page scrolls sideways`).toBeLessThanOrEqual(m.innerWidth);
    const narrow = m.controls.filter((c) => c.width < MIN_CONTROL_WIDTH);
    expect.soft(narrow, `${where}: controls narrower than ${MIN_CONTROL_WIDTH} px`).toEqual([]);
    const outside = m.controls.filter((c) => c.left < 0 || c.right > m.clientWidth);
    expect.soft(outside, `${where}: controls outside the viewport (0–${m.clientWidth} px)`).toEqual([]);
  }
}
