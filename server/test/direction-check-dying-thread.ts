/**
 * The real trusted-gradient thread, which dies when asked for its second trusted
 * gradient (direction-check.test.ts: a failing thread must turn the check off, not block).
 */
import { parentPort } from 'node:worker_threads';
import '../params/trusted-gradient-worker.js';

let trusts = 0;
parentPort!.on('message', (msg: { type: string }) => {
  if (msg.type === 'trust' && ++trusts === 2) process.exit(1);
});
