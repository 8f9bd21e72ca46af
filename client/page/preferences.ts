/**
 * What the volunteer chose, remembered per browser: consent (so a returning
 * volunteer's tab resumes), an explicit pause, the throttle and the auto-pause choices.
 * Every tab of the browser shares them (the page reloads them on a `storage` event).
 */
import { DUTY_CYCLES, type DutyCycle } from '../engine/engine-messages.js';

/** Minutes without input after which "compute only when idle" lets the tab compute. */
export const IDLE_MINUTES = [1, 2, 5, 10, 15, 30] as const;
export type IdleMinutes = (typeof IDLE_MINUTES)[number];

export interface VolunteerPreferences {
  /** The volunteer pressed Start at least once in this browser. */
  consented: boolean;
  /** …and then pressed Pause: a returning tab stays paused. */
  paused: boolean;
  duty: DutyCycle;
  pauseWhenHidden: boolean;
  pauseOnLowBattery: boolean;
  /** Compute only after idleMinutes without input. */
  onlyWhenIdle: boolean;
  idleMinutes: IdleMinutes;
  /** Compute only while the device is charging (where the browser tells). */
  onlyWhileCharging: boolean;
}

export const PREFERENCES_KEY = 'downpour.volunteer';

export const DEFAULT_PREFERENCES: VolunteerPreferences = {
  consented: false,
  paused: false,
  duty: 1,
  pauseWhenHidden: false,
  pauseOnLowBattery: true,
  onlyWhenIdle: false,
  idleMinutes: 5,
  onlyWhileCharging: false,
};

export function loadPreferences(): VolunteerPreferences {
  let raw: unknown = null;
  try {
    raw = JSON.parse(localStorage.getItem(PREFERENCES_KEY) ?? 'null');
  } catch {
    // Disabled storage or a damaged entry: start from the defaults.
  }
  const p = { ...DEFAULT_PREFERENCES };
  if (raw && typeof raw === 'object') {
    const r = raw as Record<string, unknown>;
    for (const key of ['consented', 'paused', 'pauseWhenHidden', 'pauseOnLowBattery', 'onlyWhenIdle', 'onlyWhileCharging'] as const) {
      if (typeof r[key] === 'boolean') p[key] = r[key];
    }
    if ((DUTY_CYCLES as readonly unknown[]).includes(r.duty)) p.duty = r.duty as DutyCycle;
    if ((IDLE_MINUTES as readonly unknown[]).includes(r.idleMinutes)) p.idleMinutes = r.idleMinutes as IdleMinutes;
  }
  return p;
}

export function savePreferences(p: VolunteerPreferences): void {
  try {
    localStorage.setItem(PREFERENCES_KEY, JSON.stringify(p));
  } catch {
    // Not remembered; the page still works for this visit.
  }
}
