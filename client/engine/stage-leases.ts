/**
 * Stage 0's pieces of the data (docs/model-parallelism.md, "No flush at a lease's end").
 * The runner asks for the next piece while the current one's last mini-batches go
 * forward, so the lease's round trip and its shard's download are not a gap in the
 * pipeline (StageLeases), and completes each piece in the background once its last push
 * is answered (PieceCompletions). The job's maxLeasesPerWorker (default 2) allows the one
 * piece ahead; a job that allows one answers the early ask LEASE_LIMIT, and the runner
 * asks again once its piece is complete.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { LeaseAnswer, ShardLeaseGrant } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import type { DecodedShard } from '../../shared/shard-format.js';
import { lastShardKept } from './shard-data.js';

/** A piece with its shard; 'none' when no piece is free now; 'limit' when the worker holds as many as the job allows. */
export type Leased = { lease: ShardLeaseGrant; shard: DecodedShard } | 'none' | 'limit';

export interface LeaseServer {
  lease(): Promise<Result<LeaseAnswer>>;
  fetchShard(url: string): Promise<DecodedShard>;
}

export class StageLeases {
  /** The next piece, asked for ahead of need. */
  private ahead: Promise<Leased> | null = null;
  private readonly shard: (url: string) => Promise<DecodedShard>;

  constructor(
    private readonly server: LeaseServer,
    /** What a refusal the stage cannot go on from becomes (thrown where the piece is taken). */
    private readonly refusal: (message: string) => Error,
  ) {
    this.shard = lastShardKept((url) => server.fetchShard(url));
  }

  /** Asks for the next piece now, unless it already has. */
  askAhead(): void {
    if (this.ahead) return;
    const p = this.ask();
    // Taken (and its rejection thrown) by next(); a stage that stops first never takes it.
    p.catch(() => {});
    this.ahead = p;
  }

  /** The next piece: the one asked for ahead, else asked for now. */
  next(): Promise<Leased> {
    const p = this.ahead ?? this.ask();
    this.ahead = null;
    return p;
  }

  private async ask(): Promise<Leased> {
    const answer = await this.server.lease();
    if (!answer.ok) {
      if (answer.code === ErrorCode.LEASE_LIMIT) return 'limit';
      throw this.refusal(`Lease refused: ${answer.code}: ${answer.message}`);
    }
    if (!answer.lease) return 'none';
    return { lease: answer.lease, shard: await this.shard(answer.lease.url) };
  }
}

/** Pieces whose mini-batches all went forward, until each is complete; the first that failed (its socket gone) is thrown by the loop, as when it awaited each one. */
export class PieceCompletions {
  private readonly pending = new Set<Promise<void>>();
  private failed: { reason: unknown } | null = null;

  add(completion: Promise<void>): void {
    this.pending.add(completion);
    completion.then(
      () => this.pending.delete(completion),
      (reason: unknown) => {
        this.pending.delete(completion);
        this.failed ??= { reason };
      },
    );
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolves when one of them is complete. */
  any(): Promise<void> {
    return Promise.race(this.pending);
  }

  /** Resolves when all of them are complete. */
  async all(): Promise<void> {
    await Promise.all(this.pending);
  }

  throwIfFailed(): void {
    if (this.failed) throw this.failed.reason;
  }
}
