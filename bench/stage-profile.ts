/**
 * A stage process's V8 CPU profile over the bench's window (`npm run bench -- pipeline
 * --cpu-profile DIR`), to say what its thread did in the time its meter counts idle.
 * Taken with node:inspector inside the stage process between the window's two samples,
 * so it covers the window and nothing else; the raw profile is written for DevTools, and
 * its samples are summed by where their innermost frame is: compute in tfjs's wasm, tfjs's
 * own JavaScript, garbage collection, the socket (socket.io, engine.io, ws and Node's
 * native writes), the project's code, Node's internals, or idle.
 *
 * The profiler costs the thread time too (its samples are taken on it), so the event loop
 * idle figure of a profiled run reads lower than an unprofiled one's.
 */
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';

export const PROFILE_CATEGORIES = ['idle', 'wasm', 'tfjs', 'gc', 'socket', 'project', 'node', 'other'] as const;
export type ProfileCategory = (typeof PROFILE_CATEGORIES)[number];
export type ProfileShares = Record<ProfileCategory, number>;

interface CallFrame {
  functionName: string;
  url: string;
}
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

const SOCKET_PACKAGES = ['/socket.io', '/engine.io', '/ws/', '/bufferutil/'];

function category({ functionName, url }: CallFrame): ProfileCategory {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (url.startsWith('wasm://') || functionName.startsWith('wasm-function')) return 'wasm';
  if (url.includes('/@tensorflow/')) return 'tfjs';
  if (SOCKET_PACKAGES.some((p) => url.includes(`node_modules${p}`))) return 'socket';
  // Native frames with no script: Node's stream writes (writeBuffer, writev, …) are the socket's.
  if (url === '') return /^write|Write$/.test(functionName) ? 'socket' : 'other';
  if (url.startsWith('node:')) return 'node';
  if (!url.includes('node_modules')) return 'project';
  return 'other';
}

/** Each category's share of the profile's sampled time. */
export function profileShares(profile: CpuProfile): ProfileShares {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const shares = Object.fromEntries(PROFILE_CATEGORIES.map((c) => [c, 0])) as ProfileShares;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    shares[category(frames.get(id)!)] += dt;
    total += dt;
  });
  for (const c of PROFILE_CATEGORIES) shares[c] = total > 0 ? shares[c] / total : 0;
  return shares;
}

/** Profiles this thread from start() until stop(path), which writes the raw profile and answers its shares. */
export class ThreadProfiler {
  private session: Session | null = null;

  async start(): Promise<void> {
    if (this.session) return;
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.start');
  }

  async stop(path: string): Promise<ProfileShares> {
    const session = this.session;
    if (!session) throw new Error('the stage profiler was not started');
    this.session = null;
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    session.disconnect();
    await writeFile(path, JSON.stringify(profile));
    return profileShares(profile);
  }
}

export function sharesLine(stage: number, s: ProfileShares): string {
  return `[pipeline]   stage ${stage} cpu profile (share of sampled time): ${PROFILE_CATEGORIES.map((c) => `${c} ${s[c].toFixed(2)}`).join(', ')}\n`;
}
