/**
 * Serves the Vite-built browser client. No COOP/COEP headers: with them the
 * threaded wasm build of tfjs is selected and hangs without cross-origin isolation.
 */
import express, { type RequestHandler } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function clientPages(clientDir: string): RequestHandler {
  if (!existsSync(join(clientDir, 'index.html'))) {
    return (_req, res) => {
      res.status(503).type('text/plain').send(`The browser client is not built (${clientDir}). Run: npm run build`);
    };
  }
  return express.static(clientDir, {
    index: 'index.html',
    setHeaders(res, path) {
      // Hashed assets never change; pages must be revalidated to pick up new builds.
      res.setHeader('Cache-Control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
