/**
 * The network cost, shown to the volunteer: before Start an estimate per hour from the
 * job's wire facts (shared/wire-estimate.ts) at this device's rate once known, else at
 * an assumed one; while training what the engine's meter counts (client/engine/
 * traffic-meter.ts: every message to and from the coordinator with its socket.io and
 * WebSocket framing, and the training-data downloads; TCP/IP adds about 7 % more).
 */
import type { JobCard } from '../../shared/volunteer-protocol.js';
import { estimateWire, megabytesPerHour } from '../../shared/wire-estimate.js';
import type { EngineStatus } from '../engine/status.js';
import { formatBytes, formatCount, setText } from './format.js';

const $ = (id: string) => document.getElementById(id)!;

/** The rate the estimate assumes before this device has trained: a laptop's order of magnitude. */
export const ASSUMED_EXAMPLES_PER_SECOND = 1000;

/** One sentence: about how much a tab training `card` moves per hour, and what the cap makes of it. */
export function networkEstimate(card: JobCard, examplesPerSecond: number | null, capMbPerHour: number | null): string {
  const e = estimateWire(card.parameters, card.wire, card.workers + 1);
  const rate = examplesPerSecond && examplesPerSecond > 0 ? examplesPerSecond : null;
  const perHour = megabytesPerHour(e, rate ?? ASSUMED_EXAMPLES_PER_SECOND);
  const per1000 = formatBytes((e.upPerExample + e.downPerExample) * 1000);
  const at = rate ? `at this device’s ${formatCount(rate)} examples/s` : `at ${formatCount(ASSUMED_EXAMPLES_PER_SECOND)} examples/s (this device’s rate is known once it trains)`;
  const est = `about ${formatBytes(perHour * 1e6)} per hour both ways ${at}; ${per1000} per 1,000 examples (${card.wire.codec} updates)`;
  if (capMbPerHour !== null && perHour > capMbPerHour) return `${est}. Your cap of ${formatCount(capMbPerHour)} MB per hour slows training to fit.`;
  return `${est}.`;
}

export function renderTraffic(s: EngineStatus): void {
  setText($('net-sent'), `${formatBytes(s.bytesSentPerSecond)}/s · ${formatBytes(s.bytesSent)} this visit`);
  setText($('net-received'), `${formatBytes(s.bytesReceivedPerSecond)}/s · ${formatBytes(s.bytesReceived)} this visit`);
  $('net-held').hidden = !s.heldByDataCap;
}
