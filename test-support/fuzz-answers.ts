/** How the attack tests (server/test/fuzz-*.test.ts) send a malformed message and read its answer. */
import { ALL_ERROR_CODES } from '../shared/errors.js';

/** What became of one fuzzed message. A 'bad-answer' (an ack that is neither ok nor a known code, or none while connected) fails every attack test. */
export type FuzzOutcome = 'refused' | 'disconnected' | 'accepted-push' | 'ok-other' | 'bad-answer';

export const noOutcomes = (): Record<FuzzOutcome, number> => ({ refused: 0, disconnected: 0, 'accepted-push': 0, 'ok-other': 0, 'bad-answer': 0 });

const CODES = new Set<string>(ALL_ERROR_CODES);

/** A socket.io client of any namespace: only its ack with a timeout and its connection state are used. */
interface AckingSocket {
  connected: boolean;
  timeout(ms: number): unknown;
}

/** Sends `event` with `payload` and classifies the answer; a refusal's code is counted in `seen`. */
export async function sendFuzzed(socket: AckingSocket, event: string, payload: unknown, seen: Map<string, number>): Promise<FuzzOutcome> {
  try {
    const a = (await (socket.timeout(10_000) as { emitWithAck(e: string, p: unknown): Promise<unknown> }).emitWithAck(event, payload)) as { ok?: boolean; code?: string } | undefined;
    if (a?.ok === false && CODES.has(a.code ?? '')) {
      seen.set(a.code!, (seen.get(a.code!) ?? 0) + 1);
      return 'refused';
    }
    if (a?.ok === true) return event === 'grads:push' ? 'accepted-push' : 'ok-other';
    return 'bad-answer';
  } catch {
    return socket.connected ? 'bad-answer' : 'disconnected';
  }
}
