/** The placement is pure arithmetic on shapes, shared with workers: it lives in shared/placement.ts. */
export * from '../../shared/placement.js';
