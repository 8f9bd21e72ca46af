/**
 * A real rate-limited link on this machine: a network namespace joined to the host by
 * a veth pair, both ends shaped with a token bucket filter (tc tbf; netem is not built
 * into this kernel, tbf and htb are). A process started in the namespace reaches the
 * host only through the shaped pair, and the host end's counters
 * (/sys/class/net/<if>/statistics) count every byte it moves, TCP/IP headers and all.
 *
 * Needs root and iproute2 (ip, tc). Used by the data-cap link test.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ShapedLinkOptions {
  /** tbf rate, e.g. '20mbit'. */
  rate: string;
  /** tbf burst. Default: '32kbit'. */
  burst?: string;
  /** tbf latency. Default: '400ms'. */
  latency?: string;
  /** Distinguishes concurrent links; goes into the namespace and interface names. Default: this process's pid. */
  tag?: number;
}

/** Bytes through the host end: `tx` went into the namespace, `rx` came out of it. */
export interface LinkBytes {
  rx: number;
  tx: number;
}

export interface ShapedLink {
  namespace: string;
  /** The host end's interface and address (where a server should listen). */
  hostInterface: string;
  hostAddress: string;
  nsAddress: string;
  bytes(): LinkBytes;
  /** The command line that runs `argv` inside the namespace. */
  exec(argv: readonly string[]): string[];
  /** Removes the namespace and both ends; safe to call twice, and after a half-made link. */
  close(): void;
}

function run(cmd: string, args: readonly string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why the link cannot be made here, or null when `ip netns` works. */
export function netnsUnavailable(): string | null {
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('tc', ['-V'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    return `iproute2 (ip netns, tc) is not usable: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (process.getuid?.() !== 0) return 'making a network namespace needs root';
  return null;
}

export function createShapedLink(o: ShapedLinkOptions): ShapedLink {
  const tag = o.tag ?? process.pid;
  const namespace = `dp-link-${tag}`;
  const hostInterface = `dpl${tag}h`.slice(0, 15);
  const nsInterface = `dpl${tag}n`.slice(0, 15);
  // A /30 in 10.200.0.0/16 picked by the tag, so two runs on one machine do not collide.
  const net = (tag % 16_384) * 4;
  const prefix = `10.200.${net >> 8}.`;
  const hostAddress = `${prefix}${(net & 255) + 1}`;
  const nsAddress = `${prefix}${(net & 255) + 2}`;
  const tbf = ['root', 'tbf', 'rate', o.rate, 'burst', o.burst ?? '32kbit', 'latency', o.latency ?? '400ms'];
  const close = () => {
    for (const args of [
      ['netns', 'del', namespace],
      ['link', 'del', hostInterface],
    ]) {
      try {
        run('ip', args);
      } catch {
        // already gone (deleting the namespace takes its end and so the pair)
      }
    }
  };
  try {
    run('ip', ['netns', 'add', namespace]);
    run('ip', ['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', nsInterface]);
    run('ip', ['link', 'set', nsInterface, 'netns', namespace]);
    run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    run('ip', ['link', 'set', hostInterface, 'up']);
    run('ip', ['-n', namespace, 'addr', 'add', `${nsAddress}/30`, 'dev', nsInterface]);
    run('ip', ['-n', namespace, 'link', 'set', nsInterface, 'up']);
    run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    // Both ways: the host end shapes what goes in (the worker's downloads), the far end what comes out (its uploads).
    run('tc', ['qdisc', 'add', 'dev', hostInterface, ...tbf]);
    run('ip', ['netns', 'exec', namespace, 'tc', 'qdisc', 'add', 'dev', nsInterface, ...tbf]);
  } catch (err) {
    close();
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`could not make the shaped link: ${stderr || (err instanceof Error ? err.message : String(err))}`);
  }
  const counter = (name: string) => Number(readFileSync(`/sys/class/net/${hostInterface}/statistics/${name}`, 'utf8'));
  return {
    namespace,
    hostInterface,
    hostAddress,
    nsAddress,
    bytes: () => ({ rx: counter('rx_bytes'), tx: counter('tx_bytes') }),
    exec: (argv) => ['ip', 'netns', 'exec', namespace, ...argv],
    close,
  };
}
