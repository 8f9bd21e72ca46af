/**
 * The create-job form → POST /api/jobs. Inputs start at the job spec's own defaults
 * (shared/job-spec.ts), so the form never disagrees with the server about them; the
 * server validates and its message is shown next to the offending fields.
 */
import type { DatasetInfo, JobCreateRequest } from '../../shared/operator-protocol.js';
import { CODEC_IDS, getCodec } from '../../shared/codec.js';
import { ACTIVATION_CODECS, AGGREGATIONS, jobSpecSchema, MAX_PIPELINE_DEPTH, OPTIMIZER_TYPES, TRIMMING_AGGREGATIONS, type AggregationName, type JobSpec, type JobSpecInput } from '../../shared/job-spec.js';
import { defaultJobText } from '../../shared/job-defaults.js';
import { PRESET_OPTIMIZERS } from '../../shared/preset-optimizers.js';
import { MAX_STAGES } from '../../shared/stage-plan.js';
import { CONSISTENCY_MODES, MODE_SPEC_FIELDS, MODES, modeReads, type ConsistencyModeName, type ModeSpecField } from '../../shared/modes.js';
import { ApiError, describeError, type OperatorApi } from './api.js';
import { carriedSettings, describeCarried, type CloneSource } from './clone-source.js';
import { byId, h } from './dom.js';
import { FieldErrors, type FieldProblem } from './field-errors.js';
import { fmtInt } from './format.js';
import { SPLIT_FIELDS, type SplitField } from './spec-fields.js';
import { budgetBytes, budgetMb, splitFieldRead } from './split-inputs.js';
import type { DashboardStore } from './store.js';

const FIELDS: Record<string, string> = {
  name: 'new-name',
  description: 'new-description',
  model: 'new-model',
  topology: 'new-topology',
  dataset: 'new-dataset',
  'optimizer.type': 'new-optimizer',
  'optimizer.learningRate': 'new-lr',
  batchSize: 'new-batch',
  nFetch: 'new-nfetch',
  nPush: 'new-npush',
  maxStaleness: 'new-staleness',
  mode: 'new-mode',
  backupWorkers: 'new-backup',
  aggregation: 'new-aggregation',
  trimFraction: 'new-trim',
  localSteps: 'new-local-steps',
  outerLearningRate: 'new-outer-lr',
  outerMomentum: 'new-outer-momentum',
  codec: 'new-codec',
  topkRatio: 'new-topk',
  stages: 'new-stages',
  microbatches: 'new-microbatches',
  pipelineDepth: 'new-pipeline-depth',
  activationCodec: 'new-activation-codec',
  maxWorkerParamBytes: 'new-param-budget',
  epochs: 'new-epochs',
  targetAccuracy: 'new-target',
  evalIntervalSeconds: 'new-eval',
};

/** The spec fields some modes read that the form has an input for (the others keep their defaults). */
const MODE_FIELDS = MODE_SPEC_FIELDS.filter((f) => f in FIELDS);

export class CreateJobForm {
  private readonly form = byId<HTMLFormElement>('create-job');
  private readonly status = byId('create-status');
  private readonly errors = new FieldErrors(this.form, byId('create-errors'), FIELDS);
  private readonly model = byId<HTMLSelectElement>('new-model');
  private readonly topologyRow = byId('new-topology-row');
  private readonly dataset = byId<HTMLSelectElement>('new-dataset');
  private readonly mode = byId<HTMLSelectElement>('new-mode');
  private readonly aggregation = byId<HTMLSelectElement>('new-aggregation');
  private readonly codec = byId<HTMLSelectElement>('new-codec');
  private readonly topkRow = this.form.querySelector<HTMLElement>('.codec-field')!;
  private readonly stages = byId<HTMLInputElement>('new-stages');
  /** The dataset whose default text the name and description fields were given. */
  private textDataset = '';
  /** The job the form was prefilled from ("Clone with changes"), until a job is created or the operator starts over. */
  private clone: CloneSource | null = null;
  private readonly cloneNote = byId('clone-note');
  /** The model the learning rate field was last set for (followPresetRate). */
  private rateModel = '';

  constructor(
    private readonly api: OperatorApi,
    private readonly store: DashboardStore,
    private readonly onCreated: (id: string) => void,
  ) {
    this.buildOptions();
    this.setValues(jobSpecSchema.parse({}));
    this.dataset.addEventListener('change', () => this.followDataset());
    this.model.addEventListener('change', () => {
      this.followPresetRate();
      this.showTopology();
    });
    this.mode.addEventListener('change', () => {
      this.showModeFields();
      this.showSplitFields();
    });
    this.stages.addEventListener('input', () => this.showSplitFields());
    this.aggregation.addEventListener('change', () => this.showModeFields());
    this.codec.addEventListener('change', () => (this.topkRow.hidden = !this.isTopk()));
    byId('clone-forget').addEventListener('click', () => this.forgetClone());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.submit();
    });
  }

  async loadDatasets(): Promise<void> {
    const current = this.dataset.value;
    try {
      const list = await this.api.listDatasets();
      this.dataset.replaceChildren(...list.map(datasetOption));
      if (list.some((d) => d.name === current)) this.dataset.value = current;
    } catch (err) {
      this.status.textContent = `Could not load datasets: ${describeError(err)}`;
    }
  }

  /** The default name and description follow the dataset, until the operator writes their own. */
  private followDataset(): void {
    const was = defaultJobText(this.textDataset);
    const now = defaultJobText(this.dataset.value);
    if (text('new-name') === was.name) setValue('new-name', now.name);
    if (text('new-description') === was.description) setValue('new-description', now.description);
    this.textDataset = this.dataset.value;
  }

  /**
   * A preset with a rate of its own (shared/preset-optimizers.ts: mlp-large trains at
   * Adagrad 0.01) brings it into the field, and leaving it brings the default back, but
   * only while the field holds the rate the previous model would have had: a rate the
   * operator typed stays.
   */
  private followPresetRate(): void {
    const lr = byId<HTMLInputElement>('new-lr');
    const rateOf = (model: string) => PRESET_OPTIMIZERS[model as JobSpec['model']]?.learningRate ?? jobSpecSchema.parse({}).optimizer.learningRate;
    if (Number(lr.value) === rateOf(this.rateModel)) lr.value = String(rateOf(this.model.value));
    this.rateModel = this.model.value;
  }

  /** The selects' options, from the registries (shared/codec.ts, shared/modes.ts, shared/job-spec.ts). */
  private buildOptions(): void {
    const d = jobSpecSchema.parse({});
    byId<HTMLSelectElement>('new-optimizer').replaceChildren(...OPTIMIZER_TYPES.map((t) => h('option', { value: t }, t)));
    this.dataset.replaceChildren(h('option', { value: d.dataset }, d.dataset));
    this.mode.replaceChildren(...CONSISTENCY_MODES.map((m) => h('option', { value: m }, m)));
    byId('new-mode-hint').textContent = CONSISTENCY_MODES.map((m) => `${m}: ${MODES[m].description}`).join(' ');
    this.codec.replaceChildren(...CODEC_IDS.map((c) => h('option', { value: c }, c)));
    this.aggregation.replaceChildren(...AGGREGATIONS.map((a) => h('option', { value: a }, a)));
    byId<HTMLSelectElement>('new-activation-codec').replaceChildren(...ACTIVATION_CODECS.map((c) => h('option', { value: c }, c)));
    this.stages.max = String(MAX_STAGES);
    byId<HTMLInputElement>('new-pipeline-depth').max = String(MAX_PIPELINE_DEPTH);
  }

  /** Every input from `spec`: the defaults, or a job being cloned. */
  private setValues(spec: JobSpec): void {
    if (![...this.dataset.options].some((o) => o.value === spec.dataset)) this.dataset.append(h('option', { value: spec.dataset }, spec.dataset));
    this.dataset.value = spec.dataset;
    this.textDataset = spec.dataset;
    this.model.value = spec.model;
    byId<HTMLSelectElement>('new-optimizer').value = spec.optimizer.type;
    setValue('new-name', spec.name);
    setValue('new-description', spec.description);
    setValue('new-lr', spec.optimizer.learningRate);
    this.rateModel = spec.model;
    setValue('new-batch', spec.batchSize);
    setValue('new-nfetch', spec.nFetch);
    setValue('new-npush', spec.nPush);
    setValue('new-staleness', spec.maxStaleness);
    setValue('new-epochs', spec.epochs);
    setValue('new-target', spec.targetAccuracy ?? '');
    setValue('new-eval', spec.evalIntervalSeconds);
    this.mode.value = spec.mode;
    this.codec.value = spec.codec;
    setValue('new-topk', spec.topkRatio);
    setValue('new-backup', spec.backupWorkers);
    this.aggregation.value = spec.aggregation;
    setValue('new-trim', spec.trimFraction);
    setValue('new-local-steps', spec.localSteps);
    setValue('new-outer-lr', spec.outerLearningRate);
    setValue('new-outer-momentum', spec.outerMomentum);
    setValue('new-stages', spec.stages);
    setValue('new-microbatches', spec.microbatches);
    setValue('new-pipeline-depth', spec.pipelineDepth);
    byId<HTMLSelectElement>('new-activation-codec').value = spec.activationCodec;
    setValue('new-param-budget', budgetMb(spec.maxWorkerParamBytes));
    this.showTopology();
    this.showModeFields();
    this.showSplitFields();
    this.topkRow.hidden = !this.isTopk();
  }

  /**
   * "Clone with changes": every input takes the job's setting, the name gets " (copy)",
   * and the settings the form has no input for are carried into the new job's spec.
   */
  async cloneFrom(jobId: string): Promise<void> {
    const entry = this.store.jobs.get(jobId);
    if (!entry) return;
    const { spec, name } = entry.info;
    this.errors.clear();
    let topology: object | null = null;
    if (spec.model === 'custom') {
      try {
        // The job's own model.json holds its topology.
        const json = JSON.parse(await (await this.api.blob(`/api/jobs/${encodeURIComponent(jobId)}/model`)).text()) as { modelTopology?: object };
        topology = json.modelTopology ?? null;
      } catch (err) {
        this.status.textContent = `Could not read ${name}'s topology: ${describeError(err)}`;
      }
    }
    this.clone = { jobId, jobName: name, spec, topology };
    this.setValues({ ...spec, name: `${spec.name} (copy)`.slice(0, 120) });
    const carried = describeCarried(spec, Object.keys(FIELDS));
    byId('clone-text').textContent =
      `Cloned from "${name}" (${jobId}): change what you want and create. ` +
      (carried ? `Settings this form has no field for are kept from it: ${carried}.` : 'Settings this form has no field for are at their defaults there and here.') +
      (spec.model === 'custom' ? ' Its custom topology is used unless you choose a file.' : '');
    this.cloneNote.hidden = false;
    this.status.textContent = '';
    this.form.scrollIntoView({ block: 'start' });
    byId('new-name').focus();
  }

  /** Back to a blank form at the spec's defaults. */
  private forgetClone(): void {
    this.clone = null;
    this.cloneNote.hidden = true;
    this.setValues(jobSpecSchema.parse({ dataset: this.dataset.value }));
  }

  /** The sparse codecs send only the top-k entries, and take a top-k ratio. */
  private isTopk(): boolean {
    return getCodec(this.codec.value)?.sparse ?? false;
  }

  /** Whether the chosen mode reads `field`; the trim fraction only under an aggregation that trims. */
  private modeUses(field: ModeSpecField): boolean {
    if (!modeReads(this.mode.value as ConsistencyModeName, field)) return false;
    return field !== 'trimFraction' || TRIMMING_AGGREGATIONS.includes(this.aggregation.value as AggregationName);
  }

  /** Only the fields the chosen mode uses are shown (and sent). */
  private showModeFields(): void {
    for (const field of MODE_FIELDS) byId(FIELDS[field]!).closest<HTMLElement>('.mode-field')!.hidden = !this.modeUses(field);
  }

  private modeFields(): Partial<JobSpecInput> {
    const fields: Partial<JobSpecInput> = { mode: this.mode.value as ConsistencyModeName };
    for (const field of MODE_FIELDS) {
      if (!this.modeUses(field)) continue;
      const id = FIELDS[field]!;
      const control = byId(id);
      Object.assign(fields, control instanceof HTMLSelectElement ? { [field]: control.value } : num(field, id));
    }
    return fields;
  }

  /** A split job's own rows, shown (and sent) only when the job would read them: with stages > 1, the pipeline depth only in an async mode. */
  private showSplitFields(): void {
    for (const field of SPLIT_FIELDS) byId(FIELDS[field]!).closest<HTMLElement>('.split-field')!.hidden = !this.splitUses(field);
  }

  private splitUses(field: SplitField): boolean {
    return splitFieldRead(field, Number(text('new-stages')), this.mode.value as ConsistencyModeName);
  }

  private splitFields(): Partial<JobSpecInput> {
    const fields: Partial<JobSpecInput> = { ...num('stages', 'new-stages') };
    for (const field of SPLIT_FIELDS) {
      if (!this.splitUses(field)) continue;
      const control = byId(FIELDS[field]!);
      Object.assign(fields, control instanceof HTMLSelectElement ? { [field]: control.value } : num(field, FIELDS[field]!));
    }
    // The budget bounds a whole-model worker too: it is read whatever the stages.
    const budget = budgetBytes(text('new-param-budget'));
    if (Number.isNaN(budget)) throw new FormError('maxWorkerParamBytes: must be a number of MB');
    return { ...fields, maxWorkerParamBytes: budget };
  }

  private showTopology(): void {
    const custom = this.model.value === 'custom';
    this.topologyRow.hidden = !custom;
    byId<HTMLInputElement>('new-topology').required = custom && !this.clone?.topology;
  }

  private async submit(): Promise<void> {
    this.errors.clear();
    const unreadable = this.unreadableNumbers();
    if (unreadable.length) {
      this.status.textContent = 'The job was not created.';
      this.errors.showProblems(unreadable);
      return;
    }
    const submit = this.form.querySelector<HTMLButtonElement>('button[type=submit]')!;
    submit.disabled = true;
    this.status.textContent = 'Creating…';
    try {
      const req = await this.request();
      const { job } = await this.api.createJob(req);
      this.store.upsertJob(job);
      this.status.textContent = `Created "${job.name}" (${job.state}, ${fmtInt(job.parameters)} parameters).`;
      this.clone = null;
      this.cloneNote.hidden = true;
      this.onCreated(job.id);
    } catch (err) {
      this.status.textContent = 'The job was not created.';
      this.errors.show(err instanceof ApiError || err instanceof FormError ? err.message : describeError(err));
    } finally {
      submit.disabled = false;
    }
  }

  /** Number inputs holding text the browser cannot read as a number (their value reads as ''). */
  private unreadableNumbers(): FieldProblem[] {
    return Object.entries(FIELDS).flatMap(([path, id]) => {
      const input = byId<HTMLInputElement>(id);
      return input instanceof HTMLInputElement && input.type === 'number' && input.validity.badInput && !input.closest('[hidden]')
        ? [{ path, text: 'must be a number' }]
        : [];
    });
  }

  private async request(): Promise<JobCreateRequest> {
    const model = this.model.value;
    const spec: JobSpecInput = {
      name: text('new-name'),
      description: text('new-description'),
      model: model as JobSpecInput['model'],
      dataset: this.dataset.value as JobSpecInput['dataset'],
      optimizer: {
        type: byId<HTMLSelectElement>('new-optimizer').value as (typeof OPTIMIZER_TYPES)[number],
        ...num('learningRate', 'new-lr'),
      },
      ...num('batchSize', 'new-batch'),
      ...num('nFetch', 'new-nfetch'),
      ...num('nPush', 'new-npush'),
      ...this.modeFields(),
      codec: this.codec.value as JobSpecInput['codec'],
      ...(this.isTopk() ? num('topkRatio', 'new-topk') : {}),
      ...this.splitFields(),
      ...num('epochs', 'new-epochs'),
      ...num('evalIntervalSeconds', 'new-eval'),
      // Empty means "no target", which the spec spells null.
      targetAccuracy: text('new-target') === '' ? null : Number(text('new-target')),
    };
    // A clone keeps what the form does not show; the form's own values win.
    const carried = this.clone ? carriedSettings(this.clone.spec, Object.keys(FIELDS)) : {};
    const merged: JobSpecInput = { ...carried, ...spec, optimizer: { ...carried.optimizer, ...spec.optimizer } };
    const req: JobCreateRequest = { spec: merged, start: byId<HTMLInputElement>('new-start').checked };
    if (model === 'custom') req.topology = (await readTopology()) ?? this.clone?.topology ?? missingTopology();
    return req;
  }
}

class FormError extends Error {}

function missingTopology(): never {
  throw new FormError('topology: choose a tfjs Layers topology JSON file for a custom model');
}

/** The chosen file, if any. Accepts model.toJSON() output, or a whole model.json (its modelTopology is the topology). */
async function readTopology(): Promise<object | null> {
  const file = byId<HTMLInputElement>('new-topology').files?.[0];
  if (!file) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await file.text());
  } catch (err) {
    throw new FormError(`topology: ${file.name} is not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new FormError(`topology: ${file.name} is not a JSON object`);
  const inner = (parsed as { modelTopology?: unknown }).modelTopology;
  return typeof inner === 'object' && inner !== null ? inner : parsed;
}

function datasetOption(d: DatasetInfo): HTMLOptionElement {
  const detail = `${fmtInt(d.trainCount)} train, ${fmtInt(d.testCount)} test, ${d.numClasses} classes${d.source === 'upload' ? ', uploaded' : ''}`;
  return h('option', { value: d.name }, `${d.name} (${detail})`);
}

function text(id: string): string {
  return byId<HTMLInputElement | HTMLTextAreaElement>(id).value.trim();
}

function setValue(id: string, v: string | number): void {
  byId<HTMLInputElement | HTMLTextAreaElement>(id).value = String(v);
}

/** A numeric field, or nothing when empty so the server's default applies (an explicit 0 is kept). */
function num<K extends string>(key: K, id: string): Partial<Record<K, number>> {
  const raw = text(id);
  return raw === '' ? {} : ({ [key]: Number(raw) } as Record<K, number>);
}
