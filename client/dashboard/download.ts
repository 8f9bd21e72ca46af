/**
 * Saves authenticated files. A plain link cannot send the Bearer header, so the file
 * is fetched, then handed to the browser through an object URL.
 */
import type { OperatorApi } from './api.js';

export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started from the click; revoking later lets slow browsers read it first.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * The trained model as tfjs's two files. The weights file keeps the name model.json's
 * weightsManifest gives it, so `tf.loadLayersModel(tf.io.browserFiles([json, bin]))`
 * loads the pair as saved.
 */
export async function downloadModel(api: OperatorApi, jobId: string): Promise<string[]> {
  const base = `/api/jobs/${encodeURIComponent(jobId)}/model`;
  const modelBlob = await api.blob(base);
  const weightsBlob = await api.blob(`${base}/weights.bin`);
  const weightsName = weightsFileName(await modelBlob.text());
  saveBlob(modelBlob, 'model.json');
  saveBlob(weightsBlob, weightsName);
  return ['model.json', weightsName];
}

function weightsFileName(modelJson: string): string {
  try {
    const parsed = JSON.parse(modelJson) as { weightsManifest?: { paths?: string[] }[] };
    const path = parsed.weightsManifest?.[0]?.paths?.[0];
    if (path) return path.split('/').pop() || 'weights.bin';
  } catch {
    // Not JSON: the server answered something else; keep the contract's name.
  }
  return 'weights.bin';
}

export async function downloadCheckpoint(api: OperatorApi, jobId: string, name: string): Promise<void> {
  const blob = await api.blob(`/api/jobs/${encodeURIComponent(jobId)}/checkpoints/${encodeURIComponent(name)}`);
  saveBlob(blob, name);
}
