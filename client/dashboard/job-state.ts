/** What each job state allows and how it looks: one exhaustive switch, so a new state does not compile unhandled. */
import type { JobState } from '../../shared/protocol.js';

export type JobControl = 'start' | 'pause' | 'resume' | 'stop' | 'delete';

export function controlsFor(state: JobState): readonly JobControl[] {
  switch (state) {
    case 'draft':
      return ['start', 'delete'];
    case 'running':
      return ['pause', 'stop'];
    case 'paused':
      return ['resume', 'stop', 'delete'];
    case 'done':
    case 'stopped':
    case 'failed':
      return ['delete'];
    default: {
      const check: never = state;
      return check;
    }
  }
}

export function badge(state: JobState): HTMLSpanElement {
  const el = document.createElement('span');
  setBadge(el, state);
  return el;
}

/** `live` false: the state is the last one known before the connection dropped, and says so. */
export function setBadge(el: HTMLElement, state: JobState, live = true): void {
  el.className = `badge badge-${state}${live ? '' : ' stale'}`;
  const text = live ? state : `${state}?`;
  if (el.textContent !== text) el.textContent = text;
  if (live) el.removeAttribute('title');
  else el.title = `${state} when the connection to the coordinator was lost`;
}
