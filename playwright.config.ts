import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from './farm/chromium.js';

export default defineConfig({
  testDir: 'e2e',
  // One at a time: each spec runs a coordinator plus browser workers on two cores.
  workers: 1,
  fullyParallel: false,
  timeout: 6 * 60_000,
  expect: { timeout: 30_000 },
  outputDir: 'test-results',
  reporter: [['list'], ['json', { outputFile: 'reports/playwright.json' }]],
  use: {
    launchOptions: { executablePath: findChromium(), args: CHROMIUM_ARGS },
    screenshot: 'only-on-failure',
  },
});
