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
 * The trained model as one zip (GET /api/jobs/:id/model.zip): a folder named after
 * the job and version holding model.json, weights.bin and a README. Two loose files
 * did not survive a second download: the browser saved `weights (1).bin` while its
 * model.json still named `weights.bin`.
 */
export async function downloadModel(api: OperatorApi, jobId: string): Promise<string> {
  const { blob, filename } = await api.file(`/api/jobs/${encodeURIComponent(jobId)}/model.zip`, `${jobId}-model.zip`);
  saveBlob(blob, filename);
  return filename;
}

export async function downloadCheckpoint(api: OperatorApi, jobId: string, name: string): Promise<void> {
  const blob = await api.blob(`/api/jobs/${encodeURIComponent(jobId)}/checkpoints/${encodeURIComponent(name)}`);
  saveBlob(blob, name);
}
