/**
 * Conditions under which the volunteer asked not to compute: the tab is hidden, or
 * the battery is low and not charging (navigator.getBattery, where the browser has it).
 */

/** Below this charge, and not charging, the battery counts as low. */
export const LOW_BATTERY_LEVEL = 0.2;

interface BatteryLike extends EventTarget {
  level: number;
  charging: boolean;
}

export interface AutoPauseConditions {
  hidden: boolean;
  batteryLow: boolean;
  /** False when the browser has no Battery Status API (the checkbox says so). */
  batteryKnown: boolean;
}

export function watchAutoPauseConditions(onChange: (c: AutoPauseConditions) => void): AutoPauseConditions {
  const current: AutoPauseConditions = { hidden: document.visibilityState === 'hidden', batteryLow: false, batteryKnown: false };
  const changed = () => onChange({ ...current });
  document.addEventListener('visibilitychange', () => {
    current.hidden = document.visibilityState === 'hidden';
    changed();
  });
  const getBattery = (navigator as Navigator & { getBattery?: () => Promise<BatteryLike> }).getBattery;
  if (getBattery) {
    getBattery
      .call(navigator)
      .then((battery) => {
        const read = () => {
          current.batteryKnown = true;
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
  return { ...current };
}
