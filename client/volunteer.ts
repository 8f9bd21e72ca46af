/**
 * The volunteer page: shows what this tab is doing for the job and lets the person
 * start, pause and throttle it. Training runs in a Web Worker (page/engine-host.ts);
 * this file only wires the controls. `?backend=NAME` forces a backend; `?autostart=1`
 * starts at once (local and farm workers, launched by the machine's owner).
 */
import { BACKENDS, type BackendName } from '../shared/protocol.js';
import { DUTY_CYCLES, type DutyCycle } from './engine/engine-messages.js';
import type { EngineStatus } from './engine/status.js';
import { watchAutoPauseConditions, type AutoPauseConditions } from './page/auto-pause.js';
import { EngineHost } from './page/engine-host.js';
import { loadPreferences, savePreferences } from './page/preferences.js';
import { render } from './page/render.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const requested = params.get('backend');
const forcedBackend = (BACKENDS as readonly string[]).includes(requested ?? '') ? (requested as BackendName) : null;
const autostart = params.get('autostart') === '1';

const prefs = loadPreferences();
let conditions: AutoPauseConditions = { hidden: false, batteryLow: false, batteryKnown: false };
let fatal: string | null = null;
/** What the engine was last told, so repeated evaluations send nothing. */
let engineRunning = false;

const wanted = () => (autostart || prefs.consented) && !prefs.paused;

function autoPausedBecause(): string[] {
  const why: string[] = [];
  if (prefs.pauseWhenHidden && conditions.hidden) why.push('the tab is hidden');
  if (prefs.pauseOnLowBattery && conditions.batteryLow) why.push('the battery is low');
  return why;
}

/** The page repaints at most every RENDER_MS, however often the engine reports. */
const RENDER_MS = 250;
let renderTimer: ReturnType<typeof setTimeout> | null = null;
function paint(): void {
  renderTimer = null;
  render(host.status, { wanted: wanted(), consented: autostart || prefs.consented, autoPausedBecause: autoPausedBecause(), forcedBackend, fatal });
}
function scheduleRender(_s?: EngineStatus): void {
  renderTimer ??= setTimeout(paint, RENDER_MS);
}

const host = new EngineHost({
  forcedBackend,
  duty: prefs.duty,
  onStatus: scheduleRender,
  onFatal: (message) => {
    fatal = message;
    paint();
    // Surfaces in the console too, where farm owners and the tests look.
    console.error(`downpour engine: ${message}`);
  },
});
// Live status for farm owners' scripts, the benchmarks and the tests (read-only).
(window as unknown as { downpour: unknown }).downpour = {
  get status() {
    return host.status;
  },
  forcedBackend,
};

const startButton = $<HTMLButtonElement>('start');
const pauseButton = $<HTMLButtonElement>('pause');
const hiddenBox = $<HTMLInputElement>('pause-hidden');
const batteryBox = $<HTMLInputElement>('pause-battery');
const dutyRadios = [...document.querySelectorAll<HTMLInputElement>('input[name="duty"]')];

/** Tells the engine to run or pause when the volunteer's wishes or the conditions change. */
function apply(): void {
  const run = wanted() && autoPausedBecause().length === 0;
  if (run !== engineRunning) {
    engineRunning = run;
    if (run) host.start();
    else host.pause();
  }
  startButton.disabled = wanted();
  pauseButton.disabled = !wanted();
  paint();
}

startButton.addEventListener('click', () => {
  prefs.consented = true;
  prefs.paused = false;
  savePreferences(prefs);
  apply();
  pauseButton.focus(); // the button pressed is now disabled; keep keyboard users in place
});
pauseButton.addEventListener('click', () => {
  prefs.paused = true;
  savePreferences(prefs);
  apply();
  startButton.focus();
});

for (const radio of dutyRadios) {
  radio.checked = Number(radio.value) === prefs.duty;
  radio.addEventListener('change', () => {
    const duty = Number(radio.value) as DutyCycle;
    if (!radio.checked || !(DUTY_CYCLES as readonly number[]).includes(duty)) return;
    prefs.duty = duty;
    savePreferences(prefs);
    host.setDuty(duty);
  });
}

hiddenBox.checked = prefs.pauseWhenHidden;
batteryBox.checked = prefs.pauseOnLowBattery;
hiddenBox.addEventListener('change', () => {
  prefs.pauseWhenHidden = hiddenBox.checked;
  savePreferences(prefs);
  apply();
});
batteryBox.addEventListener('change', () => {
  prefs.pauseOnLowBattery = batteryBox.checked;
  savePreferences(prefs);
  apply();
});

conditions = watchAutoPauseConditions((c) => {
  conditions = c;
  $('battery-note').textContent = c.batteryKnown ? '' : '(this browser does not report its battery)';
  apply();
});
$('battery-note').textContent = conditions.batteryKnown ? '' : '(this browser does not report its battery)';

apply();
