import { describe, expect, it } from 'vitest';
import { WorkerAssignments } from './assignments.js';

describe('worker assignments', () => {
  it('keeps a worker on one job at a time: jobOf and workersOf agree after every move', () => {
    const a = new WorkerAssignments();
    expect(a.assign('w1', 'job-1')).toBeNull();
    expect(a.assign('w2', 'job-1')).toBeNull();
    expect([...a.workersOf('job-1')]).toEqual(['w1', 'w2']);
    expect(a.assign('w1', 'job-2')).toBe('job-1');
    expect(a.jobOf('w1')).toBe('job-2');
    expect([...a.workersOf('job-1')]).toEqual(['w2']);
    expect([...a.workersOf('job-2')]).toEqual(['w1']);
    expect(a.assign('w2', null)).toBe('job-1');
    expect(a.jobOf('w2')).toBeNull();
    expect(a.workersOf('job-1').size).toBe(0);
  });

  it('release says which job the worker was on, once', () => {
    const a = new WorkerAssignments();
    a.assign('w1', 'job-1');
    expect(a.release('w1')).toBe('job-1');
    expect(a.release('w1')).toBeNull();
    expect(a.jobOf('w1')).toBeNull();
    expect(a.workersOf('job-1').size).toBe(0);
  });

  it('an unknown job has no workers', () => {
    expect(new WorkerAssignments().workersOf('nope').size).toBe(0);
  });
});
