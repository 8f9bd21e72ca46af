/**
 * `npm run docs:screenshots`: writes the README's pictures from the real thing: a
 * coordinator on port 0 with an example project, headless Chromium, a volunteer page seen
 * before Start and then pressing Start and choosing a name, and a second worker tab,
 * training two MLP jobs on MNIST (Adagrad and SGD, one tab each) until the dashboard has
 * evaluations, throughput and a worker table to show:
 *   docs/volunteer-before-start.png  the volunteer page before Start
 *   docs/volunteer.png               the volunteer page, training
 *   docs/dashboard.png               the dashboard down to its worker table
 *   docs/dashboard-compare.png       the two jobs' test accuracy on one chart
 *   docs/create-form-1280.png        the create-job form at 1280 px
 *   docs/leaderboard.png             the public leaderboard
 * Tests keep their own screenshots under the ignored test-results/; only this writes docs/.
 */
import { Command, InvalidArgumentError } from 'commander';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium } from '../farm/chromium.js';
import { buildClientIfNeeded } from '../server/build-client.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';

/** Progress on stderr, like the benchmarks; stdout gets the paths written. */
const log = (msg: string) => process.stderr.write(`[docs-screenshots] ${msg}\n`);
const JOB = { name: 'MNIST digits', description: 'Teaching a small network to read handwritten digits.', model: 'mlp', evalIntervalSeconds: 3 };
/** An example owner's words, as `--project-*` would set them. */
const PROJECT = {
  name: 'Downpour demo',
  operator: 'Example Lab',
  contact: 'https://lab.example.org/downpour',
  privacy: 'We keep the trained models and the counts per anonymous volunteer id; nothing else.',
};

/** The job it is compared with: the same network, plain SGD instead of Adagrad. */
const SGD_JOB = { ...JOB, name: 'MNIST digits, SGD', optimizer: { type: 'sgd', learningRate: 0.1 } };

interface Options {
  /** Where the pictures go. Default: docs. */
  out: string;
  /** Evaluations the job has before the pictures are taken (the charts' points). Default: 8. */
  evals: number;
}

function count(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError(`"${text}" is not a whole number from 1 to 100`);
  return n;
}

const status = (page: Page) => page.evaluate(() => (window as unknown as { downpour: { status: { pushesAccepted: number; state: string } } }).downpour.status);

async function signIn(browser: Browser, url: string, token: string, jobId: string): Promise<Page> {
  const dash = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await dash.goto(`${url}/dashboard`);
  await dash.getByLabel('Operator token').fill(token);
  await dash.getByRole('button', { name: 'Sign in' }).click();
  await dash.locator('#connection', { hasText: 'connected' }).waitFor();
  await showJob(dash, jobId, JOB.name);
  return dash;
}

async function showJob(dash: Page, jobId: string, name: string): Promise<void> {
  await dash.locator(`.job-select[data-job-id="${jobId}"]`).click();
  await dash.locator('#job-detail-h', { hasText: new RegExp(`^${name}$`) }).waitFor();
}

async function shoot(options: Options): Promise<void> {
  setLogLevel('warn');
  await buildClientIfNeeded();
  const token = randomBytes(18).toString('base64url');
  const coordinator = createCoordinator({ operatorToken: token, project: PROJECT });
  let browser: Browser | null = null;
  try {
    const created = await coordinator.createJob(JOB);
    if (!created.ok) throw new Error(created.message);
    const sgd = await coordinator.createJob(SGD_JOB);
    if (!sgd.ok) throw new Error(sgd.message);
    const { port } = await coordinator.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}`;
    browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });

    mkdirSync(options.out, { recursive: true });
    // What a volunteer reads before consenting: the project, the job, what leaves the device.
    const volunteer = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await volunteer.goto(url);
    await volunteer.locator('#job-name', { hasText: JOB.name }).waitFor();
    await volunteer.locator('#project-operator', { hasText: PROJECT.operator }).waitFor();
    await volunteer.screenshot({ path: join(options.out, 'volunteer-before-start.png'), fullPage: true });
    // The volunteer presses Start and picks a name, as a person would; a second browser trains beside it, anonymously.
    await volunteer.getByRole('button', { name: 'Start' }).click();
    await volunteer.getByLabel('Display name').fill('Ada');
    await volunteer.getByLabel('Team').fill('Analytical Engines');
    await volunteer.getByRole('button', { name: 'Save' }).click();
    await volunteer.locator('#profile-status', { hasText: 'Saved' }).waitFor();
    const helper = await browser.newPage();
    await helper.goto(`${url}/?autostart=1`);
    const dash = await signIn(browser, url, token, created.job.id);

    log(`training until both jobs have ${options.evals} evaluations…`);
    await dash.waitForFunction((n) => Number(document.querySelector('#chart-test-time')?.getAttribute('data-points')) >= n, options.evals, { timeout: 5 * 60_000, polling: 500 });
    await showJob(dash, sgd.job.id, SGD_JOB.name);
    await dash.waitForFunction((n) => Number(document.querySelector('#chart-test-time')?.getAttribute('data-points')) >= n, options.evals, { timeout: 5 * 60_000, polling: 500 });
    await showJob(dash, created.job.id, JOB.name);
    await volunteer.waitForFunction(() => document.querySelector('#state')?.textContent === 'training');
    if ((await status(volunteer)).pushesAccepted === 0) throw new Error('the volunteer page has no accepted push');

    await volunteer.screenshot({ path: join(options.out, 'volunteer.png'), fullPage: true });
    // The dashboard down to its worker table: what an operator watches.
    const workers = await dash.locator('section[aria-labelledby="workers-h"]').boundingBox();
    if (!workers) throw new Error('the dashboard shows no worker table');
    const height = Math.ceil(workers.y + workers.height + 16);
    await dash.screenshot({ path: join(options.out, 'dashboard.png'), fullPage: true, clip: { x: 0, y: 0, width: 1280, height } });

    // Both jobs on one chart: the selected one is ticked, tick the other.
    await dash.locator(`#compare-jobs input[data-job-id="${sgd.job.id}"]`).check();
    await dash.locator(`#compare-jobs input[data-job-id="${created.job.id}"]`).check();
    await dash.waitForFunction(() => JSON.parse(document.querySelector('#chart-compare')?.getAttribute('data-last') ?? '[]').length === 2);
    await dash.locator('#compare').screenshot({ path: join(options.out, 'dashboard-compare.png') });
    await dash.locator('section[aria-labelledby="create-h"]').screenshot({ path: join(options.out, 'create-form-1280.png') });

    const board = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    await board.goto(`${url}/leaderboard`);
    await board.locator('#volunteers td', { hasText: 'Ada' }).waitFor();
    await board.locator('#volunteers td', { hasText: 'anonymous' }).waitFor();
    await board.screenshot({ path: join(options.out, 'leaderboard.png'), fullPage: true });
    for (const name of ['volunteer-before-start.png', 'volunteer.png', 'dashboard.png', 'dashboard-compare.png', 'create-form-1280.png', 'leaderboard.png']) {
      process.stdout.write(`${join(options.out, name)}\n`);
    }
  } finally {
    await browser?.close();
    await coordinator.close();
  }
}

const program = new Command('docs-screenshots')
  .description("Writes the README's screenshots from a real coordinator and headless Chromium")
  .option('--out <dir>', 'where the pictures go', 'docs')
  .option('--evals <n>', 'evaluations the job has before the pictures are taken', count, 8)
  .action((options: Options) => shoot(options))
  .showHelpAfterError();
program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
