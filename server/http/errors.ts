/**
 * The last Express handlers: unknown API routes and thrown errors become coded JSON
 * refusals. Anything the client got wrong (a body that is not JSON, an encoding or
 * charset we do not read, bytes that are not the gzip they claim to be, a body over
 * the limit, a path that is not valid percent-encoding) is a 4xx with a code and the
 * reason; only our own failures are 500 INTERNAL, with no internal detail.
 */
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { createLogger } from '../logger.js';

const log = createLogger('http');

export const apiNotFound: RequestHandler = (req, res) => {
  res.status(404).json(fail(ErrorCode.NOT_FOUND, `No route ${req.method} ${req.path.slice(0, 100)}`));
};

/** What body-parser, raw-body and the router attach to the errors they raise. */
interface RaisedError {
  status?: number;
  statusCode?: number;
  type?: string;
  message?: string;
  expose?: boolean;
  limit?: number;
  charset?: string;
  encoding?: string;
}

const STATUS_CODES: Record<number, ErrorCode> = {
  401: ErrorCode.UNAUTHORIZED,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.CONFLICT,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
};

/** The HTTP status a route answers with a refusal of `code`. */
export function httpStatusOf(code: ErrorCode): number {
  for (const [status, c] of Object.entries(STATUS_CODES)) if (c === code) return Number(status);
  return code === ErrorCode.INTERNAL ? 500 : 400;
}

const clip = (s: string, n = 120) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The refusal for an error the client caused, or null when the fault is ours. */
export function clientFault(err: RaisedError, req: Request): { status: number; failure: Failure } | null {
  const refuse = (status: number, code: ErrorCode, message: string) => ({ status, failure: fail(code, message) });
  switch (err.type) {
    case 'entity.too.large':
      return refuse(413, ErrorCode.PAYLOAD_TOO_LARGE, `The request body is larger than this route accepts (${err.limit} bytes)`);
    case 'entity.parse.failed':
      return refuse(400, ErrorCode.BAD_REQUEST, 'The request body is not valid JSON');
    case 'encoding.unsupported':
      return refuse(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Content-Encoding "${clip(String(req.headers['content-encoding']), 40)}" is not supported; send identity, gzip, deflate or br`);
    case 'charset.unsupported':
      return refuse(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Charset "${clip(String(err.charset), 40)}" is not supported; send UTF-8`);
    case 'request.aborted':
      return refuse(400, ErrorCode.BAD_REQUEST, 'The request body ended before its Content-Length');
    case 'request.size.invalid':
      return refuse(400, ErrorCode.BAD_REQUEST, 'The request body is not as long as its Content-Length says');
    case 'parameters.too.many':
      return refuse(413, ErrorCode.PAYLOAD_TOO_LARGE, 'The request has too many parameters');
  }
  const status = err.status ?? err.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 499) return null;
  const code = STATUS_CODES[status] ?? ErrorCode.BAD_REQUEST;
  // Inflating bytes that are not what Content-Encoding says fails inside zlib; body-parser passes that on as a 400 without a type.
  const encoding = req.headers['content-encoding'];
  if (!err.type && status === 400 && encoding && encoding !== 'identity') {
    return refuse(400, ErrorCode.BAD_REQUEST, `The request body is not valid "${clip(encoding, 40)}" data (${clip(err.message ?? 'decompression failed', 80)})`);
  }
  // http-errors marks client errors `expose`: their message names what was wrong (a path that is not valid percent-encoding, say).
  return refuse(status, code, err.expose && err.message ? clip(err.message) : `The request was refused (HTTP ${status})`);
}

export const errorHandler: ErrorRequestHandler = (err: RaisedError, req, res, next) => {
  // A stream that fails mid-answer (a download, say) can only be cut off; Express does that.
  if (res.headersSent) return next(err);
  const fault = clientFault(err ?? {}, req);
  if (fault) return void res.status(fault.status).json(fault.failure);
  log.error('request failed', { method: req.method, path: req.path.slice(0, 200), err });
  res.status(500).json(fail(ErrorCode.INTERNAL, 'The coordinator could not handle this request'));
};
