/**
 * Security headers for every response. The CSP allows what the pages need and no more:
 * scripts and workers from this origin, WebAssembly compilation for tfjs's wasm backend
 * ('wasm-unsafe-eval', not 'unsafe-eval'), sockets to this origin, inline styles (uPlot
 * sizes its elements with style attributes). No COOP/COEP: cross-origin isolation makes
 * tfjs pick its threaded wasm build, which hangs here.
 */
import type { RequestHandler } from 'express';

const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
  });
  next();
};
