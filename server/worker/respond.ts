/**
 * Wraps a worker-event handler: parses the payload with its schema, answers through
 * the ack with a Result, and turns any exception into a coded INTERNAL refusal
 * whose message leaks nothing of the server's internals. A handler may answer later
 * (a sync round holds its acks until it closes): a promise is awaited, and a rejected
 * one answers INTERNAL too.
 *
 * The ack is found as socket.io passes it, the last argument when it is a function: a
 * client that sends only a callback (no payload) or extra arguments before it still gets
 * its answer, a coded refusal of the missing or malformed payload.
 */
import type { z } from 'zod';
import { ErrorCode } from '../../shared/errors.js';
import { formatIssues } from '../../shared/job-spec.js';
import { fail, type Result } from '../../shared/result.js';
import { createLogger } from '../logger.js';

const log = createLogger('worker-ns');

export function respond<S extends z.ZodType, T extends object>(
  event: string,
  schema: S,
  handler: (value: z.output<S>) => Result<T> | Promise<Result<T>>,
  /** Told of every refusal (the socket guard counts misbehaviour). */
  onRefused: (code: string) => void = () => {},
): (...args: unknown[]) => void {
  return (...args) => {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as (r: Result<T>) => void) : null;
    // A callback alone carries no payload; socket.io never passes a function as one.
    const payload = ack && args.length === 1 ? undefined : args[0];
    // A client that sends no callback gets no answer, and must not crash us.
    const reply = ack ?? (() => {});
    const internal = (err: unknown): Result<T> => {
      log.error('handler failed', { event, err });
      return fail(ErrorCode.INTERNAL, `The coordinator could not handle ${event}`);
    };
    const answer = (result: Result<T>) => {
      if (!result.ok) onRefused(result.code);
      reply(result);
    };
    let result: Result<T> | Promise<Result<T>>;
    try {
      const parsed = schema.safeParse(payload);
      result = parsed.success ? handler(parsed.data) : fail(ErrorCode.BAD_REQUEST, formatIssues(parsed.error.issues));
    } catch (err) {
      result = internal(err);
    }
    if (result instanceof Promise) result.then(answer, (err: unknown) => answer(internal(err)));
    else answer(result);
  };
}
