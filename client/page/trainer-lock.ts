/**
 * One browser trains in one tab: tabs of one browser profile would otherwise compete
 * for the same cores (and each pause the other through shared preferences). A tab that
 * wants to train asks for the browser-wide role of trainer; the others wait, say so,
 * and may take it over, whereupon the trainer yields. Web Locks where the browser has
 * them (secure contexts: https, localhost); else a BroadcastChannel protocol with
 * heartbeats. Pages the machine's owner launched (`?autostart=1`) do not take part.
 */

/** idle: does not want the role. trainer: holds it. waiting: wants it, another tab holds it. */
export type TabRole = 'idle' | 'trainer' | 'waiting';

export interface TrainerLockState {
  role: TabRole;
  /** This tab was the trainer until another tab took over. */
  takenOver: boolean;
}

export interface TrainerLock {
  readonly kind: 'web-locks' | 'broadcast-channel';
  /** Asks for the role; waits behind the tab that holds it. */
  want(): void;
  /** Takes the role now: the tab holding it yields. */
  takeOver(): void;
  /** No longer wants the role (paused): gives it up or leaves the queue. */
  release(): void;
}

export const TRAINER_LOCK_NAME = 'downpour-trainer';

export function createTrainerLock(onChange: (s: TrainerLockState) => void): TrainerLock {
  if (typeof navigator.locks?.request === 'function') return new WebLocksTrainerLock(onChange);
  return new BroadcastTrainerLock(onChange);
}

abstract class RoleKeeper {
  protected role: TabRole = 'idle';
  protected takenOver = false;

  constructor(private readonly onChange: (s: TrainerLockState) => void) {}

  protected set(role: TabRole, takenOver: boolean): void {
    if (role === this.role && takenOver === this.takenOver) return;
    this.role = role;
    this.takenOver = takenOver;
    this.onChange({ role, takenOver });
  }
}

class WebLocksTrainerLock extends RoleKeeper implements TrainerLock {
  readonly kind = 'web-locks' as const;
  /** Bumped by every release and take-over: callbacks of older requests give their lock straight back. */
  private generation = 0;
  private queued: AbortController | null = null;
  private releaseHeld: (() => void) | null = null;
  /** want() or takeOver() was called and release() was not since. */
  private asking = false;

  want(): void {
    // Asked already: the answer comes in a callback, and a second request would queue behind our own lock.
    if (this.asking) return;
    this.asking = true;
    // ifAvailable first, so a second tab says "waiting" at once rather than after a grant that never comes.
    this.request({ ifAvailable: true });
  }

  takeOver(): void {
    if (this.role === 'trainer') return;
    this.cancel();
    this.asking = true;
    this.request({ steal: true });
  }

  release(): void {
    this.cancel();
    this.asking = false;
    this.set('idle', false);
  }

  private cancel(): void {
    this.generation++;
    this.queued?.abort();
    this.queued = null;
    this.releaseHeld?.();
    this.releaseHeld = null;
  }

  private request(options: LockOptions): void {
    const gen = this.generation;
    navigator.locks
      .request(TRAINER_LOCK_NAME, options, (lock) => {
        if (gen !== this.generation) return undefined;
        if (!lock) {
          this.queue(gen);
          return undefined;
        }
        // Held until release(), or until another tab steals it (the request then rejects).
        return new Promise<void>((resolve) => {
          this.releaseHeld = resolve;
          this.set('trainer', false);
        });
      })
      .catch(() => {
        // Our own abort (release, take-over) is of an older generation; a steal is not.
        if (gen !== this.generation || this.role !== 'trainer') return;
        this.releaseHeld = null;
        this.set('waiting', true);
        this.queue(gen);
      });
  }

  /** Waits behind the holder: the role comes here when that tab closes or pauses. */
  private queue(gen: number): void {
    this.set('waiting', this.takenOver);
    const abort = new AbortController();
    this.queued = abort;
    navigator.locks
      .request(TRAINER_LOCK_NAME, { signal: abort.signal }, () => {
        if (gen !== this.generation) return undefined;
        this.queued = null;
        return new Promise<void>((resolve) => {
          this.releaseHeld = resolve;
          this.set('trainer', false);
        });
      })
      .catch(() => {
        if (gen !== this.generation || this.role !== 'trainer') return;
        this.releaseHeld = null;
        this.set('waiting', true);
        this.queue(gen);
      });
  }
}

type ChannelMessage =
  | { type: 'held' | 'steal'; tab: string; gen: number }
  | { type: 'released' | 'query'; tab: string };

/** The holder's heartbeat; a holder silent for STALE_MS is gone (crashed, or frozen in the background). */
const HEARTBEAT_MS = 500;
const STALE_MS = 2500;
/** A tab that asks waits this long for a holder to answer before it takes the role. */
const ANSWER_MS = 700;

/**
 * Without Web Locks (plain http on a LAN address): the holder says 'held' every
 * HEARTBEAT_MS and answers queries; a waiting tab takes the role when no holder has
 * spoken for STALE_MS (or at once after 'released'). Two tabs that claim together
 * are told apart by their claim's generation, then by tab id: the newer claim wins,
 * so a take-over (a new generation) beats the heartbeat it crossed.
 */
class BroadcastTrainerLock extends RoleKeeper implements TrainerLock {
  readonly kind = 'broadcast-channel' as const;
  private readonly tab = Array.from(crypto.getRandomValues(new Uint32Array(2)), (n) => n.toString(36)).join('');
  private readonly channel = new BroadcastChannel(TRAINER_LOCK_NAME);
  private gen = 0;
  private highestGen = 0;
  private holderHeardAt = -Infinity;
  private askedAt = 0;

  constructor(onChange: (s: TrainerLockState) => void) {
    super(onChange);
    this.channel.onmessage = (e: MessageEvent<ChannelMessage>) => this.receive(e.data);
    setInterval(() => this.tick(), HEARTBEAT_MS);
    addEventListener('pagehide', () => this.release());
  }

  want(): void {
    if (this.role !== 'idle') return;
    this.set('waiting', false);
    this.askedAt = performance.now();
    this.post({ type: 'query', tab: this.tab });
  }

  takeOver(): void {
    if (this.role === 'trainer') return;
    this.claim('steal');
  }

  release(): void {
    if (this.role === 'trainer') this.post({ type: 'released', tab: this.tab });
    this.set('idle', false);
  }

  private claim(type: 'held' | 'steal'): void {
    this.gen = this.highestGen = this.highestGen + 1;
    this.set('trainer', false);
    this.post({ type, tab: this.tab, gen: this.gen });
  }

  private tick(): void {
    const now = performance.now();
    if (this.role === 'trainer') this.post({ type: 'held', tab: this.tab, gen: this.gen });
    else if (this.role === 'waiting' && now - this.askedAt >= ANSWER_MS && now - this.holderHeardAt >= STALE_MS) this.claim('held');
  }

  private receive(m: ChannelMessage): void {
    if (m.tab === this.tab) return;
    switch (m.type) {
      case 'query':
        if (this.role === 'trainer') this.post({ type: 'held', tab: this.tab, gen: this.gen });
        return;
      case 'released':
        this.holderHeardAt = -Infinity;
        return;
      case 'held':
      case 'steal': {
        this.highestGen = Math.max(this.highestGen, m.gen);
        this.holderHeardAt = performance.now();
        const theirsWins = m.gen > this.gen || (m.gen === this.gen && m.tab < this.tab);
        if (this.role === 'trainer' && (m.type === 'steal' || theirsWins)) this.set('waiting', m.type === 'steal');
        return;
      }
      default: {
        const check: never = m;
        return void check;
      }
    }
  }

  private post(m: ChannelMessage): void {
    this.channel.postMessage(m);
  }
}
