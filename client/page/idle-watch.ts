/**
 * Whether the person is away, for "compute only when idle": no input for N minutes.
 * Where the browser permits the Idle Detection API (a permission the volunteer grants;
 * secure contexts only) that covers the whole device: no input anywhere, or the screen
 * locked. Elsewhere the page can only see itself: input in this tab (pointer, keys,
 * wheel, touch), and it being shown or hidden, which counts as input too (the person
 * switched tabs); N minutes after the last of these the person counts as away, even if
 * they work in another window meanwhile. The volunteer page says which applies.
 */

export type IdleSource = 'idle-detection' | 'this-tab';

interface IdleDetectorLike extends EventTarget {
  userState: 'active' | 'idle' | null;
  screenState: 'locked' | 'unlocked' | null;
  start(options: { threshold: number; signal: AbortSignal }): Promise<void>;
}
interface IdleDetectorClass {
  new (): IdleDetectorLike;
  requestPermission(): Promise<'granted' | 'denied'>;
}

const INPUT_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'] as const;

function idleDetectorClass(): IdleDetectorClass | null {
  return (globalThis as { IdleDetector?: IdleDetectorClass }).IdleDetector ?? null;
}

export class IdleWatch {
  idle = false;
  source: IdleSource = 'this-tab';
  private lastInput = Date.now();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private detector: AbortController | null = null;
  private minutes: number;

  constructor(
    minutes: number,
    private readonly onChange: () => void,
  ) {
    this.minutes = minutes;
    const input = () => {
      this.lastInput = Date.now();
      // While not idle the pending timer re-checks at its time and finds the later input; pointermove needs no timer churn.
      if (this.source === 'this-tab' && this.idle) this.evaluate();
    };
    for (const type of INPUT_EVENTS) addEventListener(type, input, { capture: true, passive: true });
    document.addEventListener('visibilitychange', input);
    this.evaluate();
    void this.useDetectorIfGranted();
  }

  setMinutes(minutes: number): void {
    this.minutes = minutes;
    if (this.source === 'idle-detection') void this.startDetector();
    else this.evaluate();
  }

  /**
   * Asks for the Idle Detection permission. Must run in a user gesture (the click that
   * ticked "compute only when idle"); without the API or the permission this tab's own
   * input is used.
   */
  async requestDeviceWide(): Promise<void> {
    const Detector = idleDetectorClass();
    if (!Detector || this.source === 'idle-detection') return;
    try {
      if ((await Detector.requestPermission()) === 'granted') await this.startDetector();
    } catch {
      // Refused by a permissions policy or an insecure context: this tab's input it is.
    }
  }

  private async useDetectorIfGranted(): Promise<void> {
    if (!idleDetectorClass()) return;
    try {
      const status = await navigator.permissions.query({ name: 'idle-detection' as PermissionName });
      if (status.state === 'granted') await this.startDetector();
    } catch {
      // The permission name is unknown to this browser.
    }
  }

  private async startDetector(): Promise<void> {
    const Detector = idleDetectorClass();
    if (!Detector) return;
    this.detector?.abort();
    const abort = new AbortController();
    this.detector = abort;
    const detector = new Detector();
    const read = () => this.set(detector.userState === 'idle' || detector.screenState === 'locked');
    detector.addEventListener('change', read);
    try {
      // The API's smallest threshold is one minute.
      await detector.start({ threshold: Math.max(60_000, this.minutes * 60_000), signal: abort.signal });
      if (this.timer) clearTimeout(this.timer);
      this.source = 'idle-detection';
      read();
      this.onChange();
    } catch {
      if (this.detector === abort) this.detector = null;
    }
  }

  /** This tab's input: idle once N minutes have passed since the last; checked again when they will have. */
  private evaluate(): void {
    if (this.timer) clearTimeout(this.timer);
    const left = this.lastInput + this.minutes * 60_000 - Date.now();
    this.set(left <= 0);
    if (left > 0) this.timer = setTimeout(() => this.evaluate(), left);
  }

  private set(idle: boolean): void {
    if (idle === this.idle) return;
    this.idle = idle;
    this.onChange();
  }
}
