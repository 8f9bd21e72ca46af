/**
 * The volunteer page: shows who runs the coordinator and what would be trained before
 * Start, what this tab is doing and what the volunteer has given over all visits, and
 * lets the person start, pause and throttle it. Training runs in a Web Worker
 * (page/engine-host.ts); this file wires the parts. `?backend=NAME` forces a backend;
 * `?autostart=1` starts at once (local and farm workers, launched by the machine's
 * owner) and is exempt from the one-trainer-per-browser rule. `?webrtc=0` keeps a stage's
 * frames on the coordinator's relay (for comparing the paths).
 */
import { BACKENDS, type BackendName } from '../shared/protocol.js';
import type { JobCard } from '../shared/volunteer-protocol.js';
import { DUTY_CYCLES, type DutyCycle } from './engine/engine-messages.js';
import { autoPauseReasons, watchAutoPauseConditions } from './page/auto-pause.js';
import { ContributionPanel } from './page/contribution-panel.js';
import { EngineHost } from './page/engine-host.js';
import { jobChangeNotice, JobWatch, type JobRef } from './page/job-watch.js';
import { setText } from './page/format.js';
import { networkEstimate } from './page/network-panel.js';
import { DATA_CAPS_MB_PER_HOUR, IDLE_MINUTES, loadPreferences, PREFERENCES_KEY, savePreferences, type DataCapChoice, type IdleMinutes } from './page/preferences.js';
import { renderJob, renderProject } from './page/project-panel.js';
import { render } from './page/render.js';
import { createTrainerLock, type TrainerLockState } from './page/trainer-lock.js';
import { volunteerApi } from './page/volunteer-api.js';
import { volunteerId } from './page/volunteer-id.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const requested = params.get('backend');
const forcedBackend = (BACKENDS as readonly string[]).includes(requested ?? '') ? (requested as BackendName) : null;
const autostart = params.get('autostart') === '1';
const webrtc = params.get('webrtc') !== '0';
/** The job card and the lasting totals are fetched again this often. */
const REFRESH_MS = 30_000;

let prefs = loadPreferences();
let fatal: string | null = null;
/** What the engine was last told, so repeated evaluations send nothing. */
let engineRunning = false;
/** null: exempt from the one-trainer rule (?autostart=1). */
let tab: TrainerLockState | null = autostart ? null : { role: 'idle', takenOver: false };
/** The job card on screen, and the one that was on screen when Start was pressed. */
let cardOnScreen: JobCard | null = null;
/** This device's last training rate this visit, for the network estimate (0: not known yet). */
let deviceRate = 0;
let shownAtStart: JobRef | null = null;

const me = volunteerId();
const wanted = () => (autostart || prefs.consented) && !prefs.paused;
const mayTrain = () => tab === null || tab.role === 'trainer';

/**
 * The page repaints at most every RENDER_MS, however often the engine reports: its
 * figures are per second, and every repaint is CPU in the renderer the training shares
 * (the throttle's share is measured on that process, e2e/throttle-cpu.spec.ts).
 */
const RENDER_MS = 1000;
let renderTimer: ReturnType<typeof setTimeout> | null = null;
function paint(): void {
  renderTimer = null;
  render(host.status, {
    wanted: wanted(),
    consented: autostart || prefs.consented,
    autoPausedBecause: autoPauseReasons(prefs, autoPause.conditions),
    forcedBackend,
    fatal,
    tab,
  });
  if (host.status.state === 'training' && host.status.examplesPerSecond > 0) deviceRate = host.status.examplesPerSecond;
  if (cardOnScreen) setText($('job-network'), networkEstimate(cardOnScreen, deviceRate || null, prefs.dataCapMbPerHour));
}

const jobWatch = new JobWatch((from, to) => {
  const text = jobChangeNotice(from, to, shownAtStart);
  if (text) {
    $('job-change').textContent = text;
    $('job-change').hidden = false;
  }
  if (to) void showJob(to.id);
  else void showCurrentJob();
  if (from) void contribution.refresh(); // the job left may have finished: thank the volunteer
});

const host = new EngineHost({
  forcedBackend,
  duty: prefs.duty,
  dataCapMbPerHour: prefs.dataCapMbPerHour,
  volunteerId: me,
  webrtc,
  onStatus: (s) => {
    jobWatch.observe(s);
    renderTimer ??= setTimeout(paint, RENDER_MS);
  },
  onFatal: (message) => {
    fatal = message;
    paint();
    // Surfaces in the console too, where farm owners and the tests look.
    console.error(`downpour engine: ${message}`);
  },
});
const lock = autostart
  ? null
  : createTrainerLock((s) => {
      tab = s;
      // Another tab may have paused while this one waited: act on what is stored now.
      if (s.role === 'trainer') prefs = loadPreferences();
      apply();
    });

const contribution = new ContributionPanel(me);

// Live status for farm owners' scripts, the benchmarks and the tests (read-only).
(window as unknown as { downpour: unknown }).downpour = {
  get status() {
    return host.status;
  },
  forcedBackend,
  /** How this tab takes part in the one-trainer rule: 'web-locks', 'broadcast-channel', or null when exempt. */
  trainerLock: lock?.kind ?? null,
  get tab() {
    return tab;
  },
};

async function showCurrentJob(): Promise<void> {
  if (!cardOnScreen) renderJob(null, true);
  try {
    const { job } = await volunteerApi.currentJob();
    if (jobWatch.job) return; // the engine was given a job meanwhile: that one is shown
    cardOnScreen = job;
    renderJob(job);
  } catch {
    if (!cardOnScreen) $('job-name').textContent = 'the coordinator cannot be reached right now';
  }
}

async function showJob(id: string): Promise<void> {
  try {
    const card = await volunteerApi.jobCard(id);
    if (jobWatch.job?.id !== id) return;
    cardOnScreen = card;
    renderJob(card);
  } catch {
    // Deleted meanwhile or the coordinator is away: the next refresh or assignment tells.
  }
}

const autoPause = watchAutoPauseConditions(prefs.idleMinutes, () => {
  showConditionNotes();
  apply();
});

const startButton = $<HTMLButtonElement>('start');
const pauseButton = $<HTMLButtonElement>('pause');
const dutyRadios = [...document.querySelectorAll<HTMLInputElement>('input[name="duty"]')];
const boxes = {
  pauseWhenHidden: $<HTMLInputElement>('pause-hidden'),
  pauseOnLowBattery: $<HTMLInputElement>('pause-battery'),
  onlyWhileCharging: $<HTMLInputElement>('only-charging'),
  onlyWhenIdle: $<HTMLInputElement>('only-idle'),
  onlyUnmetered: $<HTMLInputElement>('only-unmetered'),
};
const idleMinutes = $<HTMLSelectElement>('idle-minutes');
const dataCap = $<HTMLSelectElement>('data-cap');

/** Tells the engine to run or pause when the volunteer's wishes, this tab's role or the conditions change. */
function apply(): void {
  const want = wanted();
  if (lock) {
    if (want) lock.want();
    else lock.release();
  }
  const run = want && mayTrain() && autoPauseReasons(prefs, autoPause.conditions).length === 0;
  if (run !== engineRunning) {
    engineRunning = run;
    if (run) host.start();
    else host.pause();
  }
  startButton.disabled = want;
  pauseButton.disabled = !want;
  paint();
}

function showPreferences(): void {
  for (const radio of dutyRadios) radio.checked = Number(radio.value) === prefs.duty;
  for (const [key, box] of Object.entries(boxes)) box.checked = prefs[key as keyof typeof boxes];
  idleMinutes.value = String(prefs.idleMinutes);
  dataCap.value = prefs.dataCapMbPerHour === null ? '' : String(prefs.dataCapMbPerHour);
}

function showConditionNotes(): void {
  const c = autoPause.conditions;
  $('battery-note').textContent = c.batteryKnown ? '' : '(this browser does not report its battery)';
  $('charging-note').textContent = !c.batteryKnown
    ? '(this browser does not say whether it is charging, so this has no effect here)'
    : c.charging
      ? '(charging now)'
      : '(not charging now)';
  $('idle-note').textContent =
    c.idleSource === 'idle-detection'
      ? '(any input on this device counts, by the browser’s idle detection)'
      : '(only input in this tab counts: the browser does not share device-wide idleness)';
  const net = c.connection;
  $('unmetered-note').textContent = !net.known
    ? '(this browser does not say whether its connection is metered, so this has no effect here)'
    : net.metered === null
      ? `(the browser says: ${net.said}; only a data saver or a cellular link counts as metered)`
      : `(${net.metered ? 'metered' : 'unmetered'} now: ${net.said})`;
}

startButton.addEventListener('click', () => {
  prefs.consented = true;
  prefs.paused = false;
  savePreferences(prefs);
  shownAtStart = cardOnScreen ? { id: cardOnScreen.id, name: cardOnScreen.name } : null;
  // Start pressed here means train here. The other tabs read the same stored Start and
  // ask for the role too; asking first (not only waiting in line) keeps them from
  // winning the race to the lock that this click began.
  lock?.takeOver();
  apply();
  pauseButton.focus(); // the button pressed is now disabled; keep keyboard users in place
});
pauseButton.addEventListener('click', () => {
  prefs.paused = true;
  savePreferences(prefs);
  apply();
  startButton.focus();
});
$('take-over').addEventListener('click', () => {
  lock?.takeOver();
  startButton.focus();
});

for (const radio of dutyRadios) {
  radio.addEventListener('change', () => {
    const duty = Number(radio.value) as DutyCycle;
    if (!radio.checked || !(DUTY_CYCLES as readonly number[]).includes(duty)) return;
    prefs.duty = duty;
    savePreferences(prefs);
    host.setDuty(duty);
  });
}
for (const [key, box] of Object.entries(boxes)) {
  box.addEventListener('change', () => {
    prefs[key as keyof typeof boxes] = box.checked;
    savePreferences(prefs);
    // The permission prompt needs the click's user activation: ask now, not later.
    if (key === 'onlyWhenIdle' && box.checked) void autoPause.requestDeviceWideIdle();
    apply();
  });
}
idleMinutes.addEventListener('change', () => {
  const minutes = Number(idleMinutes.value) as IdleMinutes;
  if (!(IDLE_MINUTES as readonly number[]).includes(minutes)) return;
  prefs.idleMinutes = minutes;
  savePreferences(prefs);
  autoPause.setIdleMinutes(minutes);
  apply();
});
dataCap.addEventListener('change', () => {
  const mb = dataCap.value === '' ? null : Number(dataCap.value);
  if (mb !== null && !(DATA_CAPS_MB_PER_HOUR as readonly number[]).includes(mb)) return;
  prefs.dataCapMbPerHour = mb as DataCapChoice;
  savePreferences(prefs);
  host.setDataCap(prefs.dataCapMbPerHour);
  paint();
});
// Choices made in another tab of this browser hold here too (a Pause there is a Pause here).
if (!autostart) {
  addEventListener('storage', (e) => {
    if (e.key !== PREFERENCES_KEY) return;
    prefs = loadPreferences();
    showPreferences();
    host.setDuty(prefs.duty);
    host.setDataCap(prefs.dataCapMbPerHour);
    autoPause.setIdleMinutes(prefs.idleMinutes);
    apply();
  });
}

showPreferences();
showConditionNotes();
void volunteerApi.project().then(renderProject, () => ($('project-name').textContent = 'the coordinator cannot be reached right now'));
void showCurrentJob();
void contribution.refresh();
setInterval(() => {
  const job = jobWatch.job;
  void (job ? showJob(job.id) : showCurrentJob());
  if (engineRunning) void contribution.refresh();
}, REFRESH_MS);
apply();
