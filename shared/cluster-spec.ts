/**
 * A ClusterSpec, as TensorFlow's: `{"ps": ["host:port", …]}` names the ps tasks, in
 * task order (task i is the i-th entry). Workers are not listed: they are the browsers
 * and Node workers the chief assigns. Hosts are IPv4 addresses, bracketed IPv6
 * addresses or DNS names; ports 1..65535. Unknown keys (`worker`, `chief`, a typo) and
 * two entries naming the same endpoint are refused. See docs/cluster.md.
 */
import { z } from 'zod';

/** Most ps tasks a ClusterSpec may name. */
export const MAX_PS_TASKS = 64;

export interface PsEndpoint {
  /** A hostname (lower case), an IPv4 address, or an IPv6 address without its brackets. */
  host: string;
  port: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** RFC 1123 labels: letters, digits and inner hyphens, 1..63 characters; 253 in all. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PORT = /^[1-9]\d{0,4}$/;

/** The eight 16-bit groups of an IPv6 address (its last 32 bits may be dotted IPv4), or null. */
export function ipv6Groups(text: string): number[] | null {
  const halves = text.toLowerCase().split('::');
  if (halves.length > 2) return null;
  const elided = halves.length === 2;
  const head = groupsOf(halves[0]!, !elided);
  const tail = elided ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return null;
  if (!elided) return head.length === 8 ? head : null;
  // `::` stands for at least one zero group.
  if (head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** The groups of one side of `::`; only the address's last group may be dotted IPv4 (two groups). */
function groupsOf(side: string, last: boolean): number[] | null {
  if (side === '') return [];
  const parts = side.split(':');
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (/^[0-9a-f]{1,4}$/.test(part)) out.push(parseInt(part, 16));
    else if (last && i === parts.length - 1 && IPV4.test(part)) {
      const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number];
      out.push((a << 8) | b, (c << 8) | d);
    } else return null;
  }
  return out;
}

/** `host:port` → its parts, or a message saying what is wrong with it. */
export function parsePsEndpoint(text: string): { ok: true; endpoint: PsEndpoint } | { ok: false; message: string } {
  const bad = (why: string) => ({ ok: false as const, message: `"${text.slice(0, 300)}" ${why}` });
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(text);
  if (!m) return bad('is not host:port (an IPv6 address goes in brackets: [::1]:2222)');
  const [, v6, name, portText] = m;
  if (!PORT.test(portText!) || Number(portText) > 65535) return bad('has no port 1..65535');
  const port = Number(portText);
  if (v6 !== undefined) {
    if (!ipv6Groups(v6)) return bad('has an invalid IPv6 address');
    return { ok: true, endpoint: { host: v6.toLowerCase(), port } };
  }
  const host = name!.toLowerCase();
  if (/^[\d.]+$/.test(host)) {
    if (!IPV4.test(host)) return bad('has an invalid IPv4 address');
    return { ok: true, endpoint: { host, port } };
  }
  if (host.length === 0 || host.length > 253 || !host.split('.').every((l) => LABEL.test(l))) return bad('has an invalid hostname');
  return { ok: true, endpoint: { host, port } };
}

/** One key per endpoint: IPv6 addresses compare by value (`::1` is `0:0:0:0:0:0:0:1`), hostnames without case. */
export function endpointKey(e: PsEndpoint): string {
  const groups = e.host.includes(':') ? ipv6Groups(e.host) : null;
  return `${groups ? `[${groups.join(':')}]` : e.host}:${e.port}`;
}

/** `host:port`, IPv6 in brackets: what the spec wrote, normalised. */
export function formatPsEndpoint(e: PsEndpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

const endpointSchema = z.string().transform((text, ctx) => {
  const r = parsePsEndpoint(text);
  if (r.ok) return r.endpoint;
  ctx.addIssue({ code: 'custom', message: r.message });
  return z.NEVER;
});

export const clusterSpecSchema = z
  .object({
    /** The ps tasks, task 0 first. */
    ps: z.array(endpointSchema).min(1, 'names no ps task').max(MAX_PS_TASKS, `names more than ${MAX_PS_TASKS} ps tasks`),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const seen = new Map<string, number>();
    spec.ps.forEach((e, i) => {
      const key = endpointKey(e);
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else ctx.addIssue({ code: 'custom', path: ['ps', i], message: `${formatPsEndpoint(e)} is also ps task ${first}: each task needs its own endpoint` });
    });
  });

export type ClusterSpecInput = z.input<typeof clusterSpecSchema>;
export type ClusterSpec = z.output<typeof clusterSpecSchema>;
