/**
 * Finds a Chromium to drive: CHROMIUM_PATH, else Debian's binary (the real one, not
 * the /usr/bin/chromium wrapper script when the binary is there), else Playwright's
 * own download. Flags keep a headless browser off the network it must not touch.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM_CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export const CHROMIUM_ARGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // Workers are background tabs by nature: do not let Chromium throttle them.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  // WebGPU in headless Chromium; without a GPU it is SwiftShader, which the worker
  // never picks by itself but `?backend=webgpu` may force.
  '--enable-unsafe-webgpu',
  // Host ICE candidates as IP addresses, not mDNS .local names, which need a responder the
  // machine may not run: two tabs linking their pipeline stages by WebRTC on one machine or LAN.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

export class ChromiumNotFoundError extends Error {
  constructor(tried: string[]) {
    super(
      `No Chromium found (tried ${tried.join(', ')}). Install one: ` +
        `"sudo apt-get install -y chromium" on Debian/Ubuntu, or "npx playwright install chromium", ` +
        `or set CHROMIUM_PATH to a Chromium binary.`,
    );
    this.name = 'ChromiumNotFoundError';
  }
}

export function findChromium(env: NodeJS.ProcessEnv = process.env): string {
  const tried: string[] = [];
  if (env.CHROMIUM_PATH) {
    if (existsSync(env.CHROMIUM_PATH)) return env.CHROMIUM_PATH;
    tried.push(`CHROMIUM_PATH=${env.CHROMIUM_PATH}`);
  }
  for (const p of CHROMIUM_CANDIDATES) {
    if (existsSync(p)) return p;
    tried.push(p);
  }
  let own = '';
  try {
    own = chromium.executablePath();
  } catch {
    // playwright-core without a downloaded browser throws here.
  }
  if (own && existsSync(own)) return own;
  tried.push("Playwright's own Chromium");
  throw new ChromiumNotFoundError(tried);
}
