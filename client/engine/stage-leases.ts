/**
 * Stage 0's pieces of the data (docs/model-parallelism.md, "No flush at a lease's end").
 * The runner asks for the next piece while the current one's last mini-batches go
 * forward, so the lease's round trip and its shard's download are not a gap in the
 * pipeline; a piece of the shard just trained is not downloaded again (a requeued piece
 * is often one). The job's maxLeasesPerWorker (default 2) allows the one piece ahead; a
 * job that allows one answers the early ask LEASE_LIMIT, and the runner asks again once
 * its piece is complete.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { LeaseAnswer, ShardLeaseGrant } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import type { DecodedShard } from '../../shared/shard-format.js';

/** A piece with its shard; 'none' when no piece is free now; 'limit' when the worker holds as many as the job allows. */
export type Leased = { lease: ShardLeaseGrant; shard: DecodedShard } | 'none' | 'limit';

export interface LeaseServer {
  lease(): Promise<Result<LeaseAnswer>>;
  fetchShard(url: string): Promise<DecodedShard>;
}

export class StageLeases {
  /** The next piece, asked for ahead of need. */
  private ahead: Promise<Leased> | null = null;
  private cached: { url: string; shard: Promise<DecodedShard> } | null = null;

  constructor(
    private readonly server: LeaseServer,
    /** What a refusal the stage cannot go on from becomes (thrown where the piece is taken). */
    private readonly refusal: (message: string) => Error,
  ) {}

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

  private shard(url: string): Promise<DecodedShard> {
    if (this.cached?.url !== url) this.cached = { url, shard: this.server.fetchShard(url) };
    const mine = this.cached;
    // A failed download is not kept for the next piece of that shard.
    mine.shard.catch(() => this.cached === mine && (this.cached = null));
    return mine.shard;
  }
}
