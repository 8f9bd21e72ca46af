import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { deriveClusterKeys } from './cluster-keys.js';
import { ReceiptLedger, signReceipt, signRoundReceipt } from './push-receipts.js';

const keys = deriveClusterKeys('a'.repeat(43));
const strangerKeys = deriveClusterKeys('b'.repeat(43));
const receipt = (task: number, version: number, worker = 'w1', job = 'job-1', k = keys) => ({ task, version, receipt: signReceipt(k, { task, job, worker, version }) });

describe('push receipts', () => {
  it("credits a push that carries every task's receipt, once", () => {
    const ledger = new ReceiptLedger(keys, 'job-1', [0, 1]);
    expect(ledger.redeem('w1', [receipt(0, 1), receipt(1, 1)])).toBeNull();
    expect(ledger.redeem('w1', [receipt(1, 2), receipt(0, 2)])).toBeNull();
    expect(ledger.redeem('w1', [receipt(0, 1), receipt(1, 3)])).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
  });

  it('refuses a missing, doubled, foreign, forged or borrowed receipt, and a refused push uses none', () => {
    const ledger = new ReceiptLedger(keys, 'job-1', [0, 1]);
    const refused = [
      undefined,
      [receipt(0, 1)],
      [receipt(0, 1), receipt(0, 2)],
      [receipt(0, 1), receipt(2, 1)],
      [receipt(0, 1), receipt(1, 1, 'w2')],
      [receipt(0, 1), receipt(1, 1, 'w1', 'job-2')],
      [receipt(0, 1), receipt(1, 1, 'w1', 'job-1', strangerKeys)],
      [receipt(0, 1), { task: 1, version: 1, receipt: 'x'.repeat(43) }],
      [receipt(0, 1), { task: 1, version: 2, receipt: receipt(1, 1).receipt }],
    ];
    for (const r of refused) expect(ledger.redeem('w1', r), JSON.stringify(r)).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    // None of those marked task 0's version 1 as used.
    expect(ledger.redeem('w1', [receipt(0, 1), receipt(1, 1)])).toBeNull();
  });

  it('forgets old versions in bulk and refuses anything at or below what it forgot', () => {
    const ledger = new ReceiptLedger(keys, 'job-1', [0]);
    for (let v = 1; v <= 65_537; v++) expect(ledger.redeem('w1', [receipt(0, v)])).toBeNull();
    // 65,537 used: the oldest half went, and the floor with them.
    expect(ledger.redeem('w1', [receipt(0, 2)])).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    expect(ledger.redeem('w1', [receipt(0, 65_538)])).toBeNull();
  });

  it("a round mode's held receipts: every task's for the open round; another round is LATE or FUTURE_VERSION; the tags never cross", () => {
    const ledger = new ReceiptLedger(keys, 'job-1', [0, 1]);
    const held = (task: number, round: number, worker = 'w1') => ({ task, version: round, receipt: signRoundReceipt(keys, { task, job: 'job-1', worker, round }) });
    expect(ledger.checkHeld('w1', 2, [held(0, 2), held(1, 2)])).toBeNull();
    // Round 0 is a round like any other (an async receipt's version is at least 1).
    expect(ledger.checkHeld('w1', 0, [held(0, 0), held(1, 0)])).toBeNull();
    expect(ledger.checkHeld('w1', 2, [held(0, 2), held(1, 1)])).toMatchObject({ code: ErrorCode.LATE });
    expect(ledger.checkHeld('w1', 2, [held(0, 3), held(1, 3)])).toMatchObject({ code: ErrorCode.FUTURE_VERSION });
    expect(ledger.checkHeld('w2', 2, [held(0, 2), held(1, 2)])).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    expect(ledger.checkHeld('w1', 2, [held(0, 2)])).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    // An applied push's receipt is not a held one, nor the other way round.
    expect(ledger.checkHeld('w1', 2, [receipt(0, 2), receipt(1, 2)])).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    expect(ledger.redeem('w1', [held(0, 2), held(1, 2)])).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
  });
});
