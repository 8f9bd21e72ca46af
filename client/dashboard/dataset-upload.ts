/** Uploads a dataset file (POST /api/datasets?name=N&format=F, body = the file). */
import { describeError, type OperatorApi } from './api.js';
import { byId } from './dom.js';
import { fmtInt } from './format.js';

export class DatasetUploadForm {
  private readonly form = byId<HTMLFormElement>('upload-dataset');
  private readonly status = byId('upload-status');

  constructor(
    private readonly api: OperatorApi,
    private readonly onUploaded: () => void,
  ) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.submit();
    });
  }

  private async submit(): Promise<void> {
    const name = byId<HTMLInputElement>('upload-name').value.trim();
    const format = byId<HTMLSelectElement>('upload-format').value;
    const file = byId<HTMLInputElement>('upload-file').files?.[0];
    if (!name || !file) {
      this.status.textContent = 'Give the dataset a name and choose a file.';
      return;
    }
    const submit = this.form.querySelector<HTMLButtonElement>('button[type=submit]')!;
    submit.disabled = true;
    this.status.textContent = `Uploading ${file.name}…`;
    try {
      const { dataset } = await this.api.uploadDataset(name, format, file);
      this.status.textContent = `Uploaded "${dataset.name}": ${fmtInt(dataset.trainCount)} training and ${fmtInt(dataset.testCount)} test examples, ${dataset.numClasses} classes.`;
      this.form.reset();
      this.onUploaded();
    } catch (err) {
      this.status.textContent = `Upload failed: ${describeError(err)}`;
    } finally {
      submit.disabled = false;
    }
  }
}
