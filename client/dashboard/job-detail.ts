/**
 * The selected job: its facts, the controls its state allows, and its downloads.
 * The buttons are static markup that is shown or hidden, never rebuilt, so keyboard
 * focus stays put while ticks arrive.
 */
import type { CheckpointInfo } from '../../shared/operator-protocol.js';
import { describeError, type JobAction, type OperatorApi } from './api.js';
import { countOf } from '../../shared/plural.js';
import { byId, h, setText } from './dom.js';
import { ConfusionView } from './confusion-view.js';
import { downloadCheckpoint, downloadModel, saveBlob } from './download.js';
import { estimateFinish, fmtDuration, type FinishEstimate } from './eta.js';
import { JobConfigView } from './job-config.js';
import { describeMode, describeRounds } from './mode-facts.js';
import { PlacementView } from './placement-view.js';
import { ReplicasView } from './replicas-view.js';
import { fmtBytes, fmtInt, fmtPercent, fmtTime } from './format.js';
import { controlsFor, setBadge, type JobControl } from './job-state.js';
import type { DashboardStore, JobEntry, JobInfo } from './store.js';

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

  private readonly config = new JobConfigView(byId('job-config-body'));
  private readonly byClass = new ConfusionView(byId('confusion-h'), byId('confusion'));
  private readonly replicas = new ReplicasView(byId('replicas-section'), byId('replicas'));
  private readonly placement = new PlacementView(byId('placement-section'), byId('placement'));

  constructor(
    private readonly api: OperatorApi,
    private readonly store: DashboardStore,
    /** "Clone with changes": the create form takes this job's spec. */
    private readonly onClone: (jobId: string) => void,
  ) {
    byId('job-clone').addEventListener('click', () => this.jobId && this.onClone(this.jobId));
    for (const [button, file] of [
      ['export-json', 'metrics.json'],
      ['export-evals', 'evals.csv'],
      ['export-history', 'history.csv'],
    ] as const) {
      byId(button).addEventListener('click', () => void this.exportMetrics(file));
    }
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
    this.renderFacts(entry);
    this.config.render(job.id, job.spec);
    this.replicas.render(job.spec.stages, job.replicas);
    this.placement.render(job.placement);
    this.byClass.render(job.id, job.classNames, entry.confusion);
    const allowed = controlsFor(job.state);
    for (const [control, button] of this.buttons) {
      button.hidden = !allowed.includes(control);
      button.disabled = this.busy;
    }
  }

  private renderFacts(entry: JobEntry): void {
    const job = entry.info;
    const rejected = Object.values(job.pushesRejected).reduce((a, b) => a + (b ?? 0), 0);
    const rows: [string, string][] = [
      ['Description', job.description || '—'],
      ['Model', `${job.model} (${fmtInt(job.parameters)} parameters)`],
      ['Dataset', job.dataset],
      ['Mode', describeMode(job.spec)],
      ...(job.rounds ? [['Rounds', describeRounds(job.spec, job.rounds)] as [string, string]] : []),
      ['Optimizer', `${job.spec.optimizer.type}, learning rate ${job.spec.optimizer.learningRate}${job.spec.mode === 'local' ? (job.spec.stages > 1 ? ' (on the stages)' : ' (on the workers)') : ''}`],
      ['Version', fmtInt(job.version)],
      ['Epoch', `${job.epoch} of ${job.spec.epochs}`],
      ['Examples seen', fmtInt(job.examplesSeen)],
      ['Workers', countOf(job.workers, 'worker', 'workers', fmtInt)],
      ['Last accuracy', job.lastEval ? `${fmtPercent(job.lastEval.accuracy)} (v${fmtInt(job.lastEval.version)})` : '—'],
      ['Estimated finish', describeEstimate(job, estimateFinish(job, entry.history, entry.evals))],
      // Clipped pushes were accepted, scaled down to the norm bound: what the bound did besides refusing, shown beside the refusals.
      ['Pushes', `${fmtInt(job.pushesAccepted)} accepted (${fmtInt(job.pushesClipped)} of them clipped to the norm bound), ${fmtInt(rejected)} refused`],
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
      const passed = job.resumedFrom.passedOver ?? [];
      // A newer checkpoint that could not be read is the operator's to know of: the job went back further than it had to.
      const note = passed.length ? `; passed over ${passed.join('; ')}` : '';
      rows.push(['Resumed', `resumed from checkpoint v${fmtInt(job.resumedFrom.version)} at ${fmtTime(job.resumedFrom.at)}${note}`]);
    }
    if (job.state === 'failed') rows.push(['Failure', job.failure ?? 'no reason given']);
    if (job.pausedReason !== null && job.state !== 'failed') rows.push(['Paused', job.pausedReason]);
    // Text-only rows: rebuilding them is cheap and moves no focus.
    const next = rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', k === 'Failure' || k === 'Paused' ? { class: 'failure' } : {}, v)]);
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

  private async exportMetrics(file: 'metrics.json' | 'evals.csv' | 'history.csv'): Promise<void> {
    const id = this.jobId;
    if (!id) return;
    try {
      const { blob, filename } = await this.api.file(`/api/jobs/${encodeURIComponent(id)}/${file}`, `${id}-${file}`);
      saveBlob(blob, filename);
      setText(this.message, `Saved ${filename}.`);
    } catch (err) {
      setText(this.message, `Export failed: ${describeError(err)}`);
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

/** "in ~12 min", with what it rests on, or why there is none (see eta.ts for the method). */
function describeEstimate(job: JobInfo, e: FinishEstimate | null): string {
  if (!e) return job.state === 'running' ? '—' : `— (${job.state})`;
  if (e.seconds === null) return '— (no examples/s measured yet)';
  const parts = [`in ~${fmtDuration(e.seconds)} at ${fmtInt(e.rate)} examples/s`];
  if (e.epochsSeconds !== null) parts.push(`epochs: ~${fmtDuration(e.epochsSeconds)}`);
  if (job.spec.targetAccuracy !== null) {
    parts.push(
      e.targetSeconds !== null
        ? `target ${fmtPercent(job.spec.targetAccuracy)}: ~${fmtDuration(e.targetSeconds)} at the recent gain per example (rough)`
        : `target ${fmtPercent(job.spec.targetAccuracy)}: ${e.targetNote}`,
    );
  }
  return parts.join('; ');
}
