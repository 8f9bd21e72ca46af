/**
 * The overhead benchmark's page (bench/overhead.ts): the training engine in its Web
 * Worker, driven through EngineHost as the volunteer page drives it, with the backend
 * forced by `?backend=NAME` and the exchange chosen by `?exchange=`: `job` (the
 * distributed side, the job's mode through the parameter server) or `standalone` (the
 * baseline, the same loop with a local optimizer and no exchange after the first
 * pull). It starts at once and publishes what the bench and the tests read:
 * window.downpour.status (as on the volunteer page), `losses` (standalone) and `fatal`.
 */
import { ErrorCode } from '../shared/errors.js';
import { BACKENDS, type BackendName } from '../shared/protocol.js';
import { ENGINE_EXCHANGES, type EngineExchange } from './engine/engine-messages.js';
import { EngineHost } from './page/engine-host.js';

interface BenchQuery {
  backend: BackendName;
  exchange: EngineExchange;
}

function oneOf<T extends string>(name: string, allowed: readonly T[]): T {
  const value = new URLSearchParams(location.search).get(name);
  if (!(allowed as readonly (string | null)[]).includes(value)) {
    throw new Error(`${ErrorCode.BAD_REQUEST}: ?${name}= must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

const out = document.getElementById('out')!;
const losses: { loss: number; steps: number }[] = [];
let fatal: string | null = null;
let host: EngineHost | null = null;

function fail(message: string): void {
  fatal = message;
  out.textContent = message;
  console.error(`downpour bench: ${message}`);
}

try {
  const q: BenchQuery = { backend: oneOf('backend', BACKENDS), exchange: oneOf('exchange', ENGINE_EXCHANGES) };
  out.textContent = `training: exchange ${q.exchange}, backend ${q.backend}`;
  host = new EngineHost({
    forcedBackend: q.backend,
    duty: 1,
    exchange: q.exchange,
    onStatus: () => {},
    onFatal: fail,
    onLocalLoss: (loss, steps) => losses.push({ loss, steps }),
  });
  host.start();
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}

// Read-only, like the volunteer page's window.downpour.
(window as unknown as { downpour: unknown }).downpour = {
  get status() {
    return host?.status ?? null;
  },
  losses,
  get fatal() {
    return fatal;
  },
};
