/**
 * A job's full configuration, as W&B shows a run's config: every spec field, grouped,
 * each marked when it is the default (for the job's dataset) or has no effect on this
 * job (a field another mode, codec or optimizer reads).
 */
import { jobSpecSchema, type JobSpec } from '../../shared/job-spec.js';
import { h } from './dom.js';
import { groupOf, SPEC_GROUPS, SPEC_PATHS, unusedBecause, valueAt } from './spec-fields.js';

export class JobConfigView {
  private shownFor = '';

  constructor(private readonly body: HTMLElement) {}

  render(jobId: string, spec: JobSpec): void {
    // The spec of a job never changes: build once per job, so an open disclosure is left alone.
    const key = `${jobId}:${JSON.stringify(spec)}`;
    if (key === this.shownFor) return;
    this.shownFor = key;
    const defaults = jobSpecSchema.parse({ dataset: spec.dataset });
    const groups = SPEC_GROUPS.map((group) => {
      const rows = SPEC_PATHS.filter((p) => groupOf(p) === group).flatMap((path) => {
        const value = valueAt(spec, path);
        const isDefault = JSON.stringify(value) === JSON.stringify(valueAt(defaults, path));
        const unused = unusedBecause(spec, path);
        return [
          h('dt', {}, h('code', {}, path)),
          h(
            'dd',
            { 'data-path': path, class: unused ? 'unused' : null },
            formatValue(value),
            isDefault ? h('span', { class: 'tag' }, 'default') : null,
            unused ? h('span', { class: 'tag' }, unused) : null,
          ),
        ];
      });
      return h('div', { class: 'config-group' }, h('h4', {}, group), h('dl', { class: 'facts config' }, ...rows));
    });
    this.body.replaceChildren(...groups);
  }
}

function formatValue(v: unknown): string {
  if (v === null) return 'none';
  if (typeof v === 'string') return v === '' ? '(empty)' : v;
  return String(v);
}
