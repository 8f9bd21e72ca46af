/**
 * The volunteer page: shows what this tab is doing for the job and lets the person
 * start and pause it. `?backend=NAME` forces a backend; `?autostart=1` starts at once
 * (used by local and farm workers, which are started by their owner).
 */
import { BACKENDS, type BackendName } from '../shared/protocol.js';
import type { EngineStatus } from './engine/status.js';
import { WorkerEngine } from './engine/worker-engine.js';

const $ = (id: string) => document.getElementById(id)!;
const params = new URLSearchParams(location.search);
const requested = params.get('backend');
const forcedBackend = (BACKENDS as readonly string[]).includes(requested ?? '') ? (requested as BackendName) : null;

const fmt = new Intl.NumberFormat();

function render(s: EngineStatus): void {
  $('job-name').textContent = s.jobName ?? '—';
  $('state').textContent = s.state.replace(/-/g, ' ');
  $('backend').textContent = s.backend ? `${s.backend}${forcedBackend ? ' (forced)' : ''}` : '—';
  $('adapter').textContent = s.adapter
    ? `${s.adapter.vendor || 'unknown vendor'} ${s.adapter.architecture || s.adapter.description}${s.adapter.isFallbackAdapter ? ' (software fallback)' : ''}`
    : (s.webgpuUnavailable ?? '—');
  $('eps').textContent = fmt.format(Math.round(s.examplesPerSecond));
  $('examples').textContent = fmt.format(s.examplesContributed);
  $('accepted').textContent = fmt.format(s.pushesAccepted);
  $('rejected').textContent = fmt.format(Object.values(s.pushesRejected).reduce((a, b) => a + b, 0));
  $('message').textContent = s.message ?? '';
}

/** The engine reports after every batch; the page repaints at most every RENDER_MS. */
const RENDER_MS = 250;
let renderTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleRender(s: EngineStatus): void {
  renderTimer ??= setTimeout(() => {
    renderTimer = null;
    render(s);
  }, RENDER_MS);
}

const engine = new WorkerEngine({ forcedBackend, onStatus: scheduleRender });
// Live status for farm owners' scripts and the tests (read-only by convention).
(window as unknown as { downpour: unknown }).downpour = { status: engine.status, forcedBackend };
const startButton = $('start') as HTMLButtonElement;
const pauseButton = $('pause') as HTMLButtonElement;

function start(): void {
  engine.start();
  startButton.disabled = true;
  pauseButton.disabled = false;
}

startButton.addEventListener('click', start);
pauseButton.addEventListener('click', () => {
  engine.pause();
  pauseButton.disabled = true;
  startButton.disabled = false;
});

render(engine.status);
if (params.get('autostart') === '1') start();
