import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const root = resolve(import.meta.dirname, 'client');

export default defineConfig({
  root,
  // Built pages are served by the coordinator; `npm run dev` proxies its API and sockets.
  build: {
    outDir: resolve(import.meta.dirname, 'dist/client'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      input: {
        volunteer: resolve(root, 'index.html'),
        bench: resolve(root, 'bench.html'),
        dashboard: resolve(root, 'dashboard.html'),
        leaderboard: resolve(root, 'leaderboard.html'),
      },
    },
  },
  // The training engine runs in a module Web Worker; tfjs's backends split into chunks.
  worker: { format: 'es' },
  server: {
    proxy: {
      '/api': 'http://localhost:3000',
      '/shards': 'http://localhost:3000',
      '/socket.io': { target: 'http://localhost:3000', ws: true },
    },
  },
});
