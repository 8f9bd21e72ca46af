/**
 * The Node (V8) flags every ps task process runs with: `npm start -- --ps N` forks its
 * tasks with them (server/cluster/local-ps-tasks.ts) and `npm run ps` passes the same
 * (package.json; node-flags.test.ts keeps the two in step).
 *
 * `--single-threaded-gc`: a task's garbage is almost all short-lived receive buffers
 * (~2 × its slices' bytes per push: the socket's 64 KB reads and the frame `ws` joins
 * them into), counted as external memory that starts a major collection about every
 * 64 MB. With V8's helper threads (concurrent marking, parallel scavenges, concurrent
 * sweeping) those collections cost ~35 % more CPU per push than on the task's own
 * thread, and on a host whose cores the task shares (with its sibling tasks, the chief)
 * that CPU is what bounds the pushes (docs/benchmarks.md, "ps-scale").
 */
export const PS_TASK_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
