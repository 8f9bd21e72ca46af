/**
 * Conditions under which the volunteer asked not to compute: the tab is hidden; the
 * battery is low and not charging; the device is not charging at all ("only while
 * charging"); the person is at the device ("only when idle", page/idle-watch.ts).
 * Battery facts come from navigator.getBattery where the browser has it (Chromium,
 * secure contexts); elsewhere the page says it cannot tell and does not hold back.
 */
import type { VolunteerPreferences } from './preferences.js';
import { IdleWatch, type IdleSource } from './idle-watch.js';

/** Below this charge, and not charging, the battery counts as low. */
export const LOW_BATTERY_LEVEL = 0.2;

interface BatteryLike extends EventTarget {
  level: number;
  charging: boolean;
}

export interface AutoPauseConditions {
  hidden: boolean;
  batteryLow: boolean;
  /** False when the browser has no Battery Status API (the page says so). */
  batteryKnown: boolean;
  /** Null when the browser does not say. */
  charging: boolean | null;
  /** Nobody has used the device (or this tab, see idleSource) for the chosen minutes. */
  userIdle: boolean;
  idleSource: IdleSource;
}

export interface AutoPauseWatch {
  readonly conditions: AutoPauseConditions;
  setIdleMinutes(minutes: number): void;
  /** From a user gesture: asks for device-wide idle detection (falls back to this tab's input). */
  requestDeviceWideIdle(): Promise<void>;
}

export function watchAutoPauseConditions(idleMinutes: number, onChange: (c: AutoPauseConditions) => void): AutoPauseWatch {
  const current: AutoPauseConditions = {
    hidden: document.visibilityState === 'hidden',
    batteryLow: false,
    batteryKnown: false,
    charging: null,
    userIdle: false,
    idleSource: 'this-tab',
  };
  const changed = () => onChange({ ...current });
  document.addEventListener('visibilitychange', () => {
    current.hidden = document.visibilityState === 'hidden';
    changed();
  });
  const idle = new IdleWatch(idleMinutes, () => {
    current.userIdle = idle.idle;
    current.idleSource = idle.source;
    changed();
  });
  current.userIdle = idle.idle;
  const getBattery = (navigator as Navigator & { getBattery?: () => Promise<BatteryLike> }).getBattery;
  if (getBattery) {
    getBattery
      .call(navigator)
      .then((battery) => {
        const read = () => {
          current.batteryKnown = true;
          current.charging = battery.charging;
          current.batteryLow = !battery.charging && battery.level < LOW_BATTERY_LEVEL;
          changed();
        };
        battery.addEventListener('levelchange', read);
        battery.addEventListener('chargingchange', read);
        read();
      })
      .catch(() => {
        // No battery information (e.g. a permissions policy): nothing to pause on.
      });
  }
  return {
    get conditions() {
      return { ...current };
    },
    setIdleMinutes: (minutes) => idle.setMinutes(minutes),
    requestDeviceWideIdle: () => idle.requestDeviceWide(),
  };
}

/** Why the tab should not compute now, in words for the volunteer; empty when it may. */
export function autoPauseReasons(p: VolunteerPreferences, c: AutoPauseConditions): string[] {
  const why: string[] = [];
  if (p.pauseWhenHidden && c.hidden) why.push('the tab is hidden');
  if (p.pauseOnLowBattery && c.batteryLow) why.push('the battery is low');
  if (p.onlyWhileCharging && c.charging === false) why.push('the device is not charging');
  if (p.onlyWhenIdle && !c.userIdle) {
    const where = c.idleSource === 'idle-detection' ? 'the device' : 'this tab';
    why.push(`${where} was used in the last ${p.idleMinutes} min`);
  }
  return why;
}
