/**
 * The last Express handlers: unknown API routes and thrown errors become coded JSON
 * refusals. Body-parser failures keep their meaning (400 bad JSON, 413 too large);
 * anything else is INTERNAL with no internal detail in the answer.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { fail } from '../../shared/result.js';
import { createLogger } from '../logger.js';

const log = createLogger('http');

export const apiNotFound: RequestHandler = (req, res) => {
  res.status(404).json(fail(ErrorCode.NOT_FOUND, `No route ${req.method} ${req.path.slice(0, 100)}`));
};

export const errorHandler: ErrorRequestHandler = (err: { status?: number; type?: string; message?: string }, req, res, _next) => {
  if (err.type === 'entity.too.large') return void res.status(413).json(fail(ErrorCode.PAYLOAD_TOO_LARGE, 'The request body is too large'));
  if (err.type === 'entity.parse.failed') return void res.status(400).json(fail(ErrorCode.BAD_REQUEST, 'The request body is not valid JSON'));
  log.error('request failed', { method: req.method, path: req.path, err });
  res.status(500).json(fail(ErrorCode.INTERNAL, 'The coordinator could not handle this request'));
};
