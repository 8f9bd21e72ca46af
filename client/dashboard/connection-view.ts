/**
 * The live connection's state, in the header and, while it is down, as a banner over
 * the app: what the dashboard shows is then the last known state ("running · 1 worker"
 * may no longer be true), so it is marked stale (the store's `live` flag, which the
 * job list, detail and worker table also read) until the next snapshot arrives.
 */
import { setText } from './dom.js';
import type { ConnectionState } from './live.js';
import type { DashboardStore } from './store.js';

export class ConnectionView {
  constructor(
    private readonly status: HTMLElement,
    private readonly banner: HTMLElement,
    private readonly app: HTMLElement,
    private readonly store: DashboardStore,
  ) {}

  show(state: ConnectionState): void {
    // Only a connection that was lost makes the data stale; before the first one there is none.
    this.store.setLive(state.kind !== 'reconnecting', Date.now());
    setText(this.status, statusText(state));
    this.status.dataset.state = state.kind;
    const lostAt = this.store.lostAt;
    this.app.classList.toggle('stale', lostAt !== null);
    this.banner.hidden = lostAt === null;
    if (lostAt !== null) {
      setText(
        this.banner,
        `Not connected to the coordinator since ${new Date(lostAt).toLocaleTimeString()}. Jobs, workers and charts below are as they were then, not live. Reconnecting…`,
      );
    }
  }
}

function statusText(state: ConnectionState): string {
  switch (state.kind) {
    case 'connecting':
      return 'Connecting…';
    case 'connected':
      return 'Live: connected';
    case 'reconnecting':
      return `Disconnected: reconnecting… (${state.reason})`;
    case 'closed':
      return '';
    default: {
      const check: never = state;
      return check;
    }
  }
}
