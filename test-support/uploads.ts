/** Large CSV uploads as an operator's client sends them, for the upload tests and the upload-stall bench. */
import { request } from 'node:http';
import type { DatasetInfo } from '../shared/operator-protocol.js';

/**
 * POST /api/datasets through node:http, writing the body in 64 KiB pieces as the socket
 * drains: the client may share the coordinator's event loop, and fetch copies a whole
 * Buffer body at once, which alone blocks it for seconds at 49 MB.
 */
export function streamUpload(url: string, token: string, name: string, bytes: Buffer): Promise<{ status: number; body: { dataset?: DatasetInfo; code?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/datasets?name=${encodeURIComponent(name)}&format=csv`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv', 'content-length': bytes.length },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.once('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    const send = (at: number): void => {
      for (; at < bytes.length; at += 64 * 1024) {
        if (!req.write(bytes.subarray(at, at + 64 * 1024))) return void req.once('drain', () => send(at + 64 * 1024));
      }
      req.end();
    };
    send(0);
  });
}

/** A numeric CSV (5 features, a label of 3 classes, floats of every size) of at least `mb` MiB. */
export function bigCsv(mb: number): Buffer {
  const line = (i: number) => `${(i % 1000) / 7},${i % 31},${(i * 7) % 1009},${-(i % 17) / 3},${i % 2 ? 1.5e-7 : 2.25e5},${i % 3}`;
  const block = Array.from({ length: 10_000 }, (_, i) => line(i)).join('\n');
  let text = 'a,b,c,d,e,label\n';
  while (text.length < mb * 1024 * 1024) text += block + '\n';
  return Buffer.from(text);
}
