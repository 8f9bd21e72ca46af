/**
 * The operator REST API (shared/operator-protocol.ts). Every failure becomes an
 * {@link ApiError} carrying the server's code and message, so views show what the
 * server said instead of a bare status.
 */
import type { CheckpointInfo, DatasetInfo, JobCreateRequest, JobDetail } from '../../shared/operator-protocol.js';
import type { JobSummary } from '../../shared/protocol.js';

export type JobAction = 'start' | 'pause' | 'resume' | 'stop';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** An ErrorCode from the server, or HTTP_<status> / NETWORK when the body had none. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiOptions {
  /** The operator token; '' until someone signs in. */
  token: string;
  /** Called on any 401: the token was revoked or the coordinator restarted with another one. */
  onUnauthorized?: () => void;
}

export class OperatorApi {
  private token: string;

  constructor(private readonly options: ApiOptions) {
    this.token = options.token;
  }

  /** A new sign-in replaces the token; views keep the same client. */
  setToken(token: string): void {
    this.token = token;
  }

  checkToken(): Promise<{ ok: true }> {
    return this.json('POST', '/api/auth/check');
  }

  listJobs(): Promise<JobSummary[]> {
    return this.json('GET', '/api/jobs');
  }

  createJob(req: JobCreateRequest): Promise<{ ok: true; job: JobDetail }> {
    return this.json('POST', '/api/jobs', JSON.stringify(req), 'application/json');
  }

  jobAction(id: string, action: JobAction): Promise<{ ok: true; job: JobDetail }> {
    return this.json('POST', `/api/jobs/${encodeURIComponent(id)}/${action}`);
  }

  deleteJob(id: string): Promise<{ ok: true }> {
    return this.json('DELETE', `/api/jobs/${encodeURIComponent(id)}`);
  }

  listCheckpoints(id: string): Promise<CheckpointInfo[]> {
    return this.json('GET', `/api/jobs/${encodeURIComponent(id)}/checkpoints`);
  }

  listDatasets(): Promise<DatasetInfo[]> {
    return this.json('GET', '/api/datasets');
  }

  uploadDataset(name: string, format: string, file: Blob): Promise<{ ok: true; dataset: DatasetInfo }> {
    const q = new URLSearchParams({ name, format });
    return this.json('POST', `/api/datasets?${q}`, file, 'application/octet-stream');
  }

  /** Any authenticated file (model, weights, checkpoint) as a Blob. */
  async blob(path: string): Promise<Blob> {
    return (await this.send('GET', path)).blob();
  }

  /** An authenticated download with the name the server gives it (Content-Disposition), else `fallback`. */
  async file(path: string, fallback: string): Promise<{ blob: Blob; filename: string }> {
    const res = await this.send('GET', path);
    return { blob: await res.blob(), filename: attachmentName(res.headers.get('content-disposition')) ?? fallback };
  }

  private async json<T>(method: string, path: string, body?: BodyInit, contentType?: string): Promise<T> {
    const res = await this.send(method, path, body, contentType);
    return (await res.json()) as T;
  }

  private async send(method: string, path: string, body?: BodyInit, contentType?: string): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    if (contentType) headers['Content-Type'] = contentType;
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body: body ?? null });
    } catch (err) {
      throw new ApiError(0, 'NETWORK', `The coordinator did not answer (${err instanceof Error ? err.message : String(err)})`);
    }
    if (res.ok) return res;
    const failure = await readFailure(res);
    if (res.status === 401) this.options.onUnauthorized?.();
    throw failure;
  }
}

async function readFailure(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { code?: unknown; message?: unknown };
    if (typeof body.message === 'string') {
      return new ApiError(res.status, typeof body.code === 'string' ? body.code : `HTTP_${res.status}`, body.message);
    }
  } catch {
    // Not JSON (a proxy's error page, say): fall through to the status line.
  }
  return new ApiError(res.status, `HTTP_${res.status}`, `${res.status} ${res.statusText || 'request failed'}`);
}

/** The file name of `attachment; filename=…` (quoted or not, or RFC 5987 filename*=UTF-8''…). */
export function attachmentName(header: string | null): string | null {
  if (!header) return null;
  const extended = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (extended) return decodeURIComponent(extended[1]!.trim());
  const plain = /filename=("([^"]*)"|[^;]+)/i.exec(header);
  const name = plain ? (plain[2] ?? plain[1]!).trim() : '';
  // Only the last path segment: a header must not steer where the browser saves.
  return name.split(/[\\/]/).pop() || null;
}

/** "CODE: message" for status lines. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
