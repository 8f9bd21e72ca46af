/**
 * The selected job: its facts, the controls its state allows, and its downloads.
 * The buttons are static markup that is shown or hidden, never rebuilt, so keyboard
 * focus stays put while ticks arrive.
 */
import type { CheckpointInfo } from '../../shared/operator-protocol.js';
import { describeError, type JobAction, type OperatorApi } from './api.js';
import { countOf } from '../../shared/plural.js';
import { byId, h, setText } from './dom.js';
import { downloadCheckpoint, downloadModel } from './download.js';
import { fmtBytes, fmtInt, fmtPercent, fmtTime } from './format.js';
import { controlsFor, setBadge, type JobControl } from './job-state.js';
import type { DashboardStore, JobInfo } from './store.js';

const CONTROLS: readonly JobControl[] = ['start', 'pause', 'resume', 'stop', 'delete'];

export class JobDetailView {
  private readonly section = byId('job-detail');
  private readonly title = byId('job-detail-h');
  private readonly state = byId('job-state');
  private readonly facts = byId<HTMLDListElement>('job-facts');
  private readonly message = byId('job-message');
  private readonly checkpoints = byId<HTMLUListElement>('checkpoints');
  private readonly buttons = new Map<JobControl, HTMLButtonElement>();
  private jobId: string | null = null;
  private busy = false;

  constructor(
    private readonly api: OperatorApi,
    private readonly store: DashboardStore,
  ) {
    for (const control of CONTROLS) {
      const button = byId<HTMLButtonElement>(`job-${control}`);
      button.addEventListener('click', () => void this.run(control));
      this.buttons.set(control, button);
    }
    byId('download-model').addEventListener('click', () => void this.downloadModel());
    byId('load-checkpoints').addEventListener('click', () => void this.loadCheckpoints());
  }

  render(jobId: string | null): void {
    if (jobId !== this.jobId) {
      this.jobId = jobId;
      setText(this.message, '');
      this.checkpoints.replaceChildren();
    }
    const entry = jobId ? this.store.jobs.get(jobId) : undefined;
    this.section.hidden = !entry;
    if (!entry) return;
    const job = entry.info;
    setText(this.title, job.name);
    setBadge(this.state, job.state, this.store.live);
    this.renderFacts(job);
    const allowed = controlsFor(job.state);
    for (const [control, button] of this.buttons) {
      button.hidden = !allowed.includes(control);
      button.disabled = this.busy;
    }
  }

  private renderFacts(job: JobInfo): void {
    const rejected = Object.values(job.pushesRejected).reduce((a, b) => a + (b ?? 0), 0);
    const rows: [string, string][] = [
      ['Description', job.description || '—'],
      ['Model', `${job.model} (${fmtInt(job.parameters)} parameters)`],
      ['Dataset', job.dataset],
      ['Mode', describeMode(job.spec)],
      ['Optimizer', `${job.spec.optimizer.type}, learning rate ${job.spec.optimizer.learningRate}${job.spec.mode === 'local' ? ' (on the workers)' : ''}`],
      ['Version', fmtInt(job.version)],
      ['Epoch', `${job.epoch} of ${job.spec.epochs}`],
      ['Examples seen', fmtInt(job.examplesSeen)],
      ['Workers', countOf(job.workers, 'worker', 'workers', fmtInt)],
      ['Last accuracy', job.lastEval ? `${fmtPercent(job.lastEval.accuracy)} (v${fmtInt(job.lastEval.version)})` : '—'],
      ['Pushes', `${fmtInt(job.pushesAccepted)} accepted, ${fmtInt(rejected)} refused`],
      ['Traffic', `${fmtBytes(job.bytesIn)} in, ${fmtBytes(job.bytesOut)} out`],
      [
        'Per push',
        job.bytesPerPush === null ? '—' : `${fmtBytes(job.bytesPerPush)} (${job.spec.codec}, compression ${job.compressionRatio === null ? '—' : `${job.compressionRatio.toFixed(1)}×`})`,
      ],
      [
        'Per pull',
        job.bytesPerPull === null ? '—' : `${fmtBytes(job.bytesPerPull)} (${fmtInt(job.deltaPulls)} of them only the changes since the worker's version)`,
      ],
      ['Created', fmtTime(job.createdAt)],
    ];
    if (job.resumedFrom) {
      rows.push(['Resumed', `resumed from checkpoint v${fmtInt(job.resumedFrom.version)} at ${fmtTime(job.resumedFrom.at)}`]);
    }
    if (job.state === 'failed') rows.push(['Failure', job.failure ?? 'no reason given']);
    // Text-only rows: rebuilding them is cheap and moves no focus.
    const next = rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', k === 'Failure' ? { class: 'failure' } : {}, v)]);
    if (this.facts.textContent !== next.map((n) => n.textContent).join('')) this.facts.replaceChildren(...next);
  }

  private async run(control: JobControl): Promise<void> {
    const id = this.jobId;
    const entry = id ? this.store.jobs.get(id) : undefined;
    if (!id || !entry) return;
    if (control === 'stop' && !confirm(`Stop "${entry.info.name}"? A stopped job cannot be resumed.`)) return;
    if (control === 'delete' && !confirm(`Delete "${entry.info.name}" and its checkpoints?`)) return;
    this.setBusy(true);
    setText(this.message, `${verb(control)}…`);
    try {
      if (control === 'delete') {
        await this.api.deleteJob(id);
        this.store.removeJob(id);
        setText(this.message, 'Deleted.');
      } else {
        const { job } = await this.api.jobAction(id, control satisfies JobAction);
        this.store.upsertJob(job);
        setText(this.message, `${verb(control)}: done, the job is ${job.state}.`);
      }
    } catch (err) {
      setText(this.message, `${verb(control)} failed: ${describeError(err)}`);
    } finally {
      this.setBusy(false);
    }
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    for (const button of this.buttons.values()) button.disabled = busy;
  }

  private async downloadModel(): Promise<void> {
    if (!this.jobId) return;
    setText(this.message, 'Downloading the model…');
    try {
      const file = await downloadModel(this.api, this.jobId);
      setText(this.message, `Saved ${file}: unzip it and load its model.json with tf.loadLayersModel (its README says how to feed the model).`);
    } catch (err) {
      setText(this.message, `Model download failed: ${describeError(err)}`);
    }
  }

  private async loadCheckpoints(): Promise<void> {
    const id = this.jobId;
    if (!id) return;
    setText(this.message, 'Loading checkpoints…');
    try {
      const list = await this.api.listCheckpoints(id);
      if (id !== this.jobId) return;
      this.checkpoints.replaceChildren(...(list.length ? list.map((c) => this.checkpointItem(id, c)) : [h('li', { class: 'muted' }, 'No checkpoints yet.')]));
      setText(this.message, `${list.length} checkpoint${list.length === 1 ? '' : 's'}.`);
    } catch (err) {
      setText(this.message, `Could not list checkpoints: ${describeError(err)}`);
    }
  }

  private checkpointItem(jobId: string, c: CheckpointInfo): HTMLLIElement {
    const button = h('button', { type: 'button', 'aria-label': `Download checkpoint ${c.name}` }, 'Download');
    button.addEventListener('click', async () => {
      try {
        await downloadCheckpoint(this.api, jobId, c.name);
        setText(this.message, `Saved ${c.name}.`);
      } catch (err) {
        setText(this.message, `Checkpoint download failed: ${describeError(err)}`);
      }
    });
    return h('li', {}, h('span', {}, `v${fmtInt(c.version)} · ${fmtTime(c.at)} · ${fmtBytes(c.bytes)} · ${c.name}`), ' ', button);
  }
}

function verb(control: JobControl): string {
  switch (control) {
    case 'start':
      return 'Start';
    case 'pause':
      return 'Pause';
    case 'resume':
      return 'Resume';
    case 'stop':
      return 'Stop';
    case 'delete':
      return 'Delete';
    default: {
      const check: never = control;
      return check;
    }
  }
}

/** The job's consistency mode and the parameters that matter for it. */
function describeMode(spec: JobInfo['spec']): string {
  switch (spec.mode) {
    case 'async':
      return `async (Downpour), max staleness ${spec.maxStaleness}`;
    case 'staleness-aware':
      return `staleness-aware (lr ÷ staleness), max staleness ${spec.maxStaleness}`;
    case 'sync':
      return `sync, ${spec.backupWorkers} backup worker${spec.backupWorkers === 1 ? '' : 's'}, ${describeAggregation(spec)}`;
    case 'local':
      return `local (DiLoCo): ${spec.localSteps} local steps, outer Nesterov lr ${spec.outerLearningRate}, momentum ${spec.outerMomentum}, ${spec.backupWorkers} backup, ${describeAggregation(spec)}`;
  }
}

/** How a round's gradients are combined. */
function describeAggregation(spec: JobInfo['spec']): string {
  switch (spec.aggregation) {
    case 'mean':
      return 'mean of the round';
    case 'trimmed-mean':
      return `trimmed mean (${spec.trimFraction} dropped per end, per coordinate)`;
    case 'median':
      return 'coordinate-wise median';
    case 'multi-krum':
      return `Multi-Krum (the ${spec.trimFraction} of gradients farthest from their neighbours dropped)`;
  }
}
