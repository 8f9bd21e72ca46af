/**
 * The operator token: everything an operator can change requires it. From
 * DOWNPOUR_ADMIN_TOKEN, else read from `<dataDir>/operator-token`, else generated on
 * first start, stored there (mode 0600) and shown once to the person starting the
 * coordinator. Never logged, never sent to a worker.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface OperatorToken {
  token: string;
  /** True when this start generated it (so it must be shown once). */
  generated: boolean;
  source: 'env' | 'file' | 'generated' | 'option';
}

export function resolveOperatorToken(envToken: string | undefined, dataDir: string): OperatorToken {
  if (envToken) return { token: envToken, generated: false, source: 'env' };
  const file = join(dataDir, 'operator-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return { token, generated: false, source: 'file' };
  }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return { token, generated: true, source: 'generated' };
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: unknown, token: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer …` header, if any. */
export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}
