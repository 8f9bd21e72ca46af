import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { extend, naiveMac } from '../../test-support/sha256-extension.js';
import { deriveClusterKeys, mac, macEquals } from './cluster-keys.js';
import { DEFAULT_TICKET_TTL_MS, MAX_TICKET_LENGTH, signTicket, TicketSigner, verifyTicket, type TicketGrant } from './tickets.js';

// A spy that calls through: the tests below check that every MAC comparison goes through it.
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const TOKEN = 'c'.repeat(20) + 'luster-token-for-tests-0123456789';
const keys = deriveClusterKeys(TOKEN);
const OTHER = deriveClusterKeys('another-cluster-token-abcdefghijklmnop');
const FOR = { job: 'job-1', task: 1 };

function refusal(r: TicketGrant | { ok: false; code: string; message: string }) {
  if (!('ok' in r)) throw new Error(`expected a refusal, got the grant ${JSON.stringify(r)}`);
  expect(r.code).toBe(ErrorCode.UNAUTHORIZED);
  return r.message;
}

/** The ticket with its payload rewritten by `edit` and the original MAC kept. */
function tampered(ticket: string, edit: (fields: unknown[]) => void): string {
  const [payload, tag] = ticket.split('.') as [string, string];
  const fields = JSON.parse(Buffer.from(payload, 'base64url').toString()) as unknown[];
  edit(fields);
  return `${Buffer.from(JSON.stringify(fields)).toString('base64url')}.${tag}`;
}

describe('tickets', () => {
  const clock = new ManualClock();
  const signer = new TicketSigner(keys, () => clock.now());

  it('lets the named worker use the named job on the named task until it expires', () => {
    const ticket = signer.sign({ worker: 'w-7', job: 'job-1', task: 1 });
    expect(ticket).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(verifyTicket(keys, ticket, FOR, clock.now())).toEqual({ worker: 'w-7', job: 'job-1', task: 1, expires: clock.now() + DEFAULT_TICKET_TTL_MS });
  });

  it('expires at the instant the chief set, by the chief clock', () => {
    const short = new TicketSigner(keys, () => clock.now(), { ttlMs: 30_000 });
    const ticket = short.sign({ worker: 'w', ...FOR });
    clock.advance(29_999);
    expect(verifyTicket(keys, ticket, FOR, clock.now())).toMatchObject({ worker: 'w' });
    clock.advance(1);
    expect(refusal(verifyTicket(keys, ticket, FOR, clock.now()))).toMatch(/^Ticket refused: expired /);
  });

  it('is good for its own job and task only', () => {
    const ticket = signer.sign({ worker: 'w', ...FOR });
    expect(refusal(verifyTicket(keys, ticket, { job: 'job-2', task: 1 }, clock.now()))).toBe('Ticket refused: it is for job job-1 on task 1, not job job-2 on task 1');
    expect(refusal(verifyTicket(keys, ticket, { job: 'job-1', task: 0 }, clock.now()))).toMatch(/not job job-1 on task 0/);
    // A task that does not hold the job checks the job only, to tell an assigned worker that it is gone.
    expect(verifyTicket(keys, ticket, { job: 'job-1', task: undefined }, clock.now())).toMatchObject({ worker: 'w', task: 1 });
    expect(refusal(verifyTicket(keys, ticket, { job: 'job-2', task: undefined }, clock.now()))).toMatch(/not job job-2/);
  });

  it("refuses another cluster's ticket and made-up ones", () => {
    const now = clock.now();
    expect(refusal(verifyTicket(keys, signTicket(OTHER, { worker: 'w', ...FOR, expires: now + 1000 }), FOR, now))).toBe('Ticket refused: not signed by this cluster');
    const ticket = signer.sign({ worker: 'w', ...FOR });
    const [payload] = ticket.split('.');
    expect(refusal(verifyTicket(keys, `${payload}.${crypto.randomBytes(32).toString('base64url')}`, FOR, now))).toMatch(/not signed by this cluster/);
    for (const junk of [undefined, null, 42, {}, '', '.', 'abc', `${payload}.`, `.${ticket.split('.')[1]}`, `${ticket}.x`, `${payload}.${'A'.repeat(42)}`, ticket + '=', 'x'.repeat(MAX_TICKET_LENGTH + 1)]) {
      expect(refusal(verifyTicket(keys, junk, FOR, now)), String(junk).slice(0, 40)).toBe('Ticket refused: not a ticket');
    }
  });

  it('refuses a ticket with any field changed, or any bit of its MAC', () => {
    const now = clock.now();
    const ticket = signer.sign({ worker: 'w-1', ...FOR });
    const edits: ((f: unknown[]) => void)[] = [
      (f) => (f[1] = 0), // another task
      (f) => (f[2] = 'job-2'),
      (f) => (f[3] = 'w-2'), // another worker
      (f) => (f[4] = (f[4] as number) + 3_600_000), // a longer life
      (f) => (f[0] = 'dpt2'),
      (f) => f.push('extra'),
    ];
    for (const edit of edits) expect(refusal(verifyTicket(keys, tampered(ticket, edit), FOR, now))).toBe('Ticket refused: not signed by this cluster');
    const tag = Buffer.from(ticket.split('.')[1]!, 'base64url');
    for (let bit = 0; bit < 256; bit += 37) {
      const flipped = Buffer.from(tag);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      expect(refusal(verifyTicket(keys, `${ticket.split('.')[0]}.${flipped.toString('base64url')}`, FOR, now))).toMatch(/not signed/);
    }
  });

  it('takes one spelling of a MAC only', () => {
    const ticket = signer.sign({ worker: 'w', ...FOR });
    // The last of 43 base64url characters carries 4 bits and 2 unused ones: flipping an unused bit decodes to the same MAC.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(ticket.at(-1)!);
    const respelled = ticket.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(respelled.split('.')[1]!, 'base64url')).toEqual(Buffer.from(ticket.split('.')[1]!, 'base64url'));
    expect(refusal(verifyTicket(keys, respelled, FOR, clock.now()))).toBe('Ticket refused: not a ticket');
  });

  it('refuses a payload the cluster signed that is not a ticket, without throwing', () => {
    const now = clock.now();
    for (const text of ['not json', '{"task":1}', '["dpt1",1,"job-1","w"]', '["dpt1","1","job-1","w",9e15]', '["dpt1",1,"job-1",7,9e15]', '["dpt1",1.5,"job-1","w",9e15]']) {
      const payload = Buffer.from(text).toString('base64url');
      const forgedByBug = `${payload}.${mac(keys.ticketKey, payload).toString('base64url')}`;
      expect(refusal(verifyTicket(keys, forgedByBug, FOR, now)), text).toBe('Ticket refused: not a ticket');
    }
  });

  it('compares MACs with crypto.timingSafeEqual', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    const now = clock.now();
    const good = signer.sign({ worker: 'w', ...FOR });
    const forged = `${good.split('.')[0]}.${crypto.randomBytes(32).toString('base64url')}`;
    expect(verifyTicket(keys, good, FOR, now)).toMatchObject({ worker: 'w' });
    refusal(verifyTicket(keys, forged, FOR, now));
    expect(spy).toHaveBeenCalledTimes(2);
    const expected = mac(keys.ticketKey, good.split('.')[0]!);
    expect(spy.mock.calls.map((c) => Buffer.from(c[0] as Buffer))).toEqual([expected, expected]);
    expect(Buffer.from(spy.mock.calls[1]![1] as Buffer)).toEqual(Buffer.from(forged.split('.')[1]!, 'base64url'));
  });

  it('refuses a signer with no lifetime', () => {
    expect(() => new TicketSigner(keys, () => 0, { ttlMs: 0 })).toThrow(RangeError);
  });
});

describe('MACs are HMAC: a MAC cannot be extended to a longer message', () => {
  const secret = keys.ticketKey;
  const message = Buffer.from('eyJ0aWNrZXQiOjF9');
  const suffix = Buffer.from('AAAA-extended');

  it('the attack works on SHA-256(key ‖ message), so it would catch that construction', () => {
    const forged = extend(naiveMac(secret, message), secret.length, message, suffix);
    expect(forged.message.subarray(0, message.length)).toEqual(message);
    expect(naiveMac(secret, forged.message)).toEqual(forged.digest);
  });

  it('the same attack on our MAC gives a MAC that does not verify', () => {
    const forged = extend(mac(secret, message.toString('latin1')), secret.length, message, suffix);
    expect(macEquals(mac(secret, forged.message.toString('latin1')), forged.digest)).toBe(false);
    // Nor as a ticket: the payload is the extended text with the extended MAC.
    const ticket = signTicket(keys, { worker: 'w', ...FOR, expires: Date.now() + 60_000 });
    const [payload, tag] = ticket.split('.') as [string, string];
    const ext = extend(Buffer.from(tag, 'base64url'), secret.length, Buffer.from(payload), Buffer.from('.eyJ4Ijp9'));
    expect(refusal(verifyTicket(keys, `${ext.message.toString('latin1')}.${ext.digest.toString('base64url')}`, FOR, Date.now()))).toMatch(/not a ticket|not signed/);
  });
});
