/** Express middleware: the request must carry the operator token as a Bearer header. */
import type { RequestHandler } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { fail } from '../../shared/result.js';
import { bearer, tokenMatches } from '../auth/operator-token.js';

export function requireOperator(token: string): RequestHandler {
  return (req, res, next) => {
    if (tokenMatches(bearer(req.headers.authorization), token)) return next();
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer realm="downpour-operator"')
      .json(fail(ErrorCode.UNAUTHORIZED, 'This action needs the operator token (Authorization: Bearer <token>)'));
  };
}
