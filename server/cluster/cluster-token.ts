/**
 * The cluster token: the secret a chief and its ps tasks share, from which tickets and
 * chief credentials are keyed (cluster-keys.ts). Read from `--token-file`; without one,
 * from `<dataDir>/cluster-token`, generated there (mode 0600) on first start, so that a
 * chief and the tasks it starts on the same machine share it with no setup. For tasks
 * on other hosts, copy that file to each. Never logged, never sent to a worker.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterTokenProblem } from './cluster-keys.js';

export const CLUSTER_TOKEN_FILE = 'cluster-token';

export type ClusterTokenResult =
  | { ok: true; token: string; file: string; /** True when this start wrote it. */ generated: boolean }
  | { ok: false; code: 'TOKEN_FILE_MISSING' | 'TOKEN_FILE_UNREADABLE' | 'BAD_TOKEN'; message: string };

export function resolveClusterToken(options: { tokenFile?: string; dataDir: string }): ClusterTokenResult {
  const explicit = options.tokenFile !== undefined;
  const file = options.tokenFile ?? join(options.dataDir, CLUSTER_TOKEN_FILE);
  if (!existsSync(file)) {
    // A named file that is not there is a mistake (a typo would otherwise split the cluster in two).
    if (explicit) return { ok: false, code: 'TOKEN_FILE_MISSING', message: `--token-file ${file}: no such file` };
    mkdirSync(options.dataDir, { recursive: true });
    const token = randomBytes(32).toString('base64url');
    writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
    return { ok: true, token, file, generated: true };
  }
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    return { ok: false, code: 'TOKEN_FILE_UNREADABLE', message: `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  const problem = clusterTokenProblem(token);
  if (problem) return { ok: false, code: 'BAD_TOKEN', message: `${file}: ${problem}` };
  return { ok: true, token, file, generated: false };
}
