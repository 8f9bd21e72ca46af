/**
 * The V8 heap flag of every Node process that trains or serves a model's tensors: the
 * coordinator (`npm start`; `npm run bench`, whose coordinator runs in the bench's own
 * process, so the benches measure what production runs) and the Node workers and Node
 * stage workers the benches and tests fork (bench/worker-pool.ts, bench/pipeline.ts).
 * heap-flags.test.ts keeps package.json's scripts in step; ps-start.test.ts and
 * churn.test.ts see the flag on the running processes.
 *
 * `--initial-heap-size=256` (MB): these processes hold 60–100 MB of long-lived heap and
 * make most of their garbage as tfjs's per-operation objects, which live across a
 * step's awaits and so outlive a scavenge. V8 then keeps the old generation's limit at
 * ~1.4 × the live size and starts a full (incremental) mark-compact every 100–200 ms:
 * a pipeline stage 0 ran 79 of them in a 15 s bench run, 0.11–0.17 of its thread, and
 * the coordinator's mutator got ~0.8 of its own. The initial size is a floor under that
 * limit: the same stage ran 28, and the mlp's 1 × 2 replica went from 3,000–3,900 to
 * 3,800–4,900 examples/s over three runs each (docs/model-parallelism.md, "The garbage
 * collector's share"). It costs
 * heap that is allowed to grow to 256 MB before the first full collection, never more
 * than the process needs after one; a larger floor (512) measured the same.
 */
export const HEAP_NODE_FLAGS: readonly string[] = ['--initial-heap-size=256'];

/** execArgv for a forked TypeScript entry point of ours that trains (a Node worker, a Node stage). */
export const TRAINING_EXEC_ARGV: readonly string[] = ['--import', 'tsx', ...HEAP_NODE_FLAGS];
