import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteVolunteerStore } from './sqlite-volunteer-store.js';
import { MemoryVolunteerStore, type VolunteerStore } from './volunteer-store.js';

const dir = mkdtempSync(join(tmpdir(), 'downpour-volunteers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const C = 'c'.repeat(32);
const D = 'd'.repeat(32);

// One suite over every implementation, as Colyseus runs its driver tests.
const implementations: [string, () => VolunteerStore][] = [
  ['memory', () => new MemoryVolunteerStore()],
  ['sqlite', () => new SqliteVolunteerStore(join(dir, `v${files++}.sqlite`))],
];

describe.each(implementations)('VolunteerStore (%s)', (_name, open) => {
  it('adds contribution per volunteer and per job, most recent job first', () => {
    const s = open();
    s.addContributions([{ volunteerId: A, jobId: 'job-1', jobName: 'digits', examples: 640, computeMs: 1500 }], 1000);
    s.addContributions(
      [
        { volunteerId: A, jobId: 'job-1', jobName: 'digits', examples: 64, computeMs: 100 },
        { volunteerId: A, jobId: 'job-2', jobName: 'fashion', examples: 32, computeMs: 50 },
      ],
      2000,
    );
    expect(s.get(A)).toEqual({ id: A, displayName: null, team: null, examples: 736, computeMs: 1650, firstSeen: 1000, lastSeen: 2000 });
    expect(s.jobsOf(A, 10).map((j) => [j.jobId, j.examples, j.computeMs])).toEqual([
      ['job-1', 704, 1600],
      ['job-2', 32, 50],
    ]);
    expect(s.jobsOf(A, 1)).toHaveLength(1);
    expect(s.get(B)).toBeNull();
    expect(s.jobsOf(B, 10)).toEqual([]);
    s.close();
  });

  it('names only volunteers who chose a name; the rest are one anonymous row; teams count every member', () => {
    const s = open();
    s.setProfile(A, { displayName: 'Ada', team: 'Analytical' }, 10);
    s.setProfile(B, { displayName: null, team: 'Analytical' }, 10);
    s.setProfile(D, { displayName: 'Dora', team: null }, 10); // a name but no contribution: not listed
    s.addContributions(
      [
        { volunteerId: A, jobId: 'job-1', jobName: 'j', examples: 100, computeMs: 10 },
        { volunteerId: B, jobId: 'job-1', jobName: 'j', examples: 300, computeMs: 30 },
        { volunteerId: C, jobId: 'job-1', jobName: 'j', examples: 50, computeMs: 5 },
      ],
      20,
    );
    expect(s.leaderboard(10)).toEqual({
      named: [{ name: 'Ada', team: 'Analytical', examples: 100, computeMs: 10 }],
      anonymous: { volunteers: 2, examples: 350, computeMs: 35 },
      teams: [{ team: 'Analytical', members: 2, examples: 400, computeMs: 40 }],
    });
    // Choosing a name later keeps the contribution.
    s.setProfile(C, { displayName: 'Cy', team: null }, 30);
    expect(s.get(C)).toMatchObject({ displayName: 'Cy', examples: 50, firstSeen: 20, lastSeen: 30 });
    expect(s.leaderboard(1).named).toEqual([{ name: 'Ada', team: 'Analytical', examples: 100, computeMs: 10 }]);
    s.close();
  });

  it('an empty store has an empty leaderboard', () => {
    const s = open();
    expect(s.leaderboard(10)).toEqual({ named: [], anonymous: { volunteers: 0, examples: 0, computeMs: 0 }, teams: [] });
    s.close();
  });
});

describe('SqliteVolunteerStore', () => {
  it('keeps contribution and profiles across a reopen', () => {
    const path = join(dir, 'reopen.sqlite');
    const first = new SqliteVolunteerStore(path);
    first.setProfile(A, { displayName: 'Ada', team: 'T' }, 5);
    first.addContributions([{ volunteerId: A, jobId: 'job-3', jobName: 'x', examples: 7, computeMs: 9 }], 6);
    first.close();
    const again = new SqliteVolunteerStore(path);
    expect(again.get(A)).toEqual({ id: A, displayName: 'Ada', team: 'T', examples: 7, computeMs: 9, firstSeen: 5, lastSeen: 6 });
    expect(again.jobsOf(A, 5)).toEqual([{ jobId: 'job-3', jobName: 'x', examples: 7, computeMs: 9, lastSeen: 6 }]);
    again.close();
  });
});
