/** Examples per second over a sliding window of recent batches. */
export class Throughput {
  private readonly samples: { at: number; examples: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  add(examples: number, at = performance.now()): void {
    this.samples.push({ at, examples });
    while (this.samples.length > 2 && at - this.samples[0]!.at > this.windowMs) this.samples.shift();
  }

  /**
   * The rate over the window's batches; 0 once no batch has finished for a whole
   * window (waiting for a shard or a job), rather than the last rate forever.
   */
  perSecond(now = performance.now()): number {
    if (this.samples.length < 2) return 0;
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    if (now - last.at > this.windowMs) return 0;
    const span = last.at - first.at;
    if (span <= 0) return 0;
    let n = 0;
    for (let i = 1; i < this.samples.length; i++) n += this.samples[i]!.examples;
    return (n * 1000) / span;
  }

  reset(): void {
    this.samples.length = 0;
  }
}
