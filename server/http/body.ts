/**
 * Body readers for the operator routes. Each says what it reads and refuses the rest
 * with a code before reading a byte: a JSON route answers 415 to a body that is not
 * declared JSON (instead of ignoring it and acting on defaults) and 400 to a missing
 * body; a file route answers 415 to form encodings, which would reach the parser as
 * an envelope or with its line breaks stripped (`curl -d @file`). Failures while
 * reading (size, charset, Content-Encoding) are coded by errors.ts.
 */
import express, { type Request, type RequestHandler } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { fail } from '../../shared/result.js';

/** True when the request carries body bytes (a chunked body counts until read). */
export function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

const declared = (req: Request) => String(req.headers['content-type'] ?? 'none').slice(0, 80);

/** A JSON body of at most `limit` (`'4mb'`): required, declared `application/json` (or `+json`), UTF-8. */
export function jsonBody(limit: string): RequestHandler[] {
  const gate: RequestHandler = (req, res, next) => {
    if (!hasBody(req)) return void res.status(400).json(fail(ErrorCode.BAD_REQUEST, 'This route needs a JSON body (Content-Type: application/json)'));
    if (!req.is(['application/json', '+json'])) {
      return void res.status(415).json(fail(ErrorCode.UNSUPPORTED_MEDIA_TYPE, `The body must be JSON sent as Content-Type: application/json, not ${declared(req)}`));
    }
    next();
  };
  // strict: only an object or array at the top; any type matches here because the gate has checked it.
  return [gate, express.json({ limit, strict: true, type: () => true })];
}

/** Content types that mean "a form", not "the file": refused on file routes. */
const FORM_TYPES = ['multipart/*', 'application/x-www-form-urlencoded', 'application/json'];

/**
 * The gate of a route that takes a file as its raw body (any declared type but a
 * form's); the route reads the body itself with upload-stream.ts, as it arrives.
 */
export const fileBody: RequestHandler = (req, res, next) => {
  if (!hasBody(req)) return void res.status(400).json(fail(ErrorCode.BAD_REQUEST, 'The request body must be the file (curl --data-binary @file)'));
  if (req.is(FORM_TYPES)) {
    return void res
      .status(415)
      .json(fail(ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Send the file itself as the body (Content-Type: text/csv or application/octet-stream, curl --data-binary @file), not ${declared(req)}`));
  }
  next();
};
