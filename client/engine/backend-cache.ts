/**
 * Remembered backend choices, in a module of their own without tfjs: the page reads
 * the remembered entries from localStorage and must not load tfjs's ~1.3 MB to learn
 * their key prefix (the engine that uses tfjs runs in the Web Worker).
 */
import type { BackendName } from '../../shared/protocol.js';

/** Where measured choices are remembered; a miss only costs one more measurement. */
export interface BackendCache {
  get(key: string): BackendName | null;
  set(key: string, backend: BackendName): void;
}

/** Remembers nothing: every job is measured. */
export const NO_BACKEND_CACHE: BackendCache = { get: () => null, set: () => {} };

/** localStorage keys of remembered choices start with this. */
export const BACKEND_CACHE_PREFIX = 'downpour.backend.';
