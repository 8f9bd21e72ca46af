/**
 * What the volunteer chose, remembered per browser: consent (so a returning
 * volunteer's tab resumes), an explicit pause, the throttle and the auto-pause boxes.
 */
import { DUTY_CYCLES, type DutyCycle } from '../engine/engine-messages.js';

export interface VolunteerPreferences {
  /** The volunteer pressed Start at least once in this browser. */
  consented: boolean;
  /** …and then pressed Pause: a returning tab stays paused. */
  paused: boolean;
  duty: DutyCycle;
  pauseWhenHidden: boolean;
  pauseOnLowBattery: boolean;
}

const KEY = 'downpour.volunteer';

export const DEFAULT_PREFERENCES: VolunteerPreferences = {
  consented: false,
  paused: false,
  duty: 1,
  pauseWhenHidden: false,
  pauseOnLowBattery: true,
};

export function loadPreferences(): VolunteerPreferences {
  let raw: unknown = null;
  try {
    raw = JSON.parse(localStorage.getItem(KEY) ?? 'null');
  } catch {
    // Disabled storage or a damaged entry: start from the defaults.
  }
  const p = { ...DEFAULT_PREFERENCES };
  if (raw && typeof raw === 'object') {
    const r = raw as Record<string, unknown>;
    if (typeof r.consented === 'boolean') p.consented = r.consented;
    if (typeof r.paused === 'boolean') p.paused = r.paused;
    if ((DUTY_CYCLES as readonly unknown[]).includes(r.duty)) p.duty = r.duty as DutyCycle;
    if (typeof r.pauseWhenHidden === 'boolean') p.pauseWhenHidden = r.pauseWhenHidden;
    if (typeof r.pauseOnLowBattery === 'boolean') p.pauseOnLowBattery = r.pauseOnLowBattery;
  }
  return p;
}

export function savePreferences(p: VolunteerPreferences): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(p));
  } catch {
    // Not remembered; the page still works for this visit.
  }
}
