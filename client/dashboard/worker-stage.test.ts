import { describe, expect, it } from 'vitest';
import { stageText } from './worker-stage.js';

describe('stageText', () => {
  it('names the replica and counts the stage from 1, as the Replicas table does', () => {
    expect(stageText({ replicaId: 'r2', stage: 0, of: 2 })).toBe('r2 · 1 of 2');
    expect(stageText({ replicaId: 'r7', stage: 2, of: 3 })).toBe('r7 · 3 of 3');
  });

  it('says a worker waits for a replica, and shows no place for a data-parallel one', () => {
    expect(stageText('waiting')).toBe('waiting');
    expect(stageText(null)).toBe('—');
  });
});
