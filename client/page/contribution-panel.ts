/**
 * The volunteer's lasting contribution as the coordinator counts it (all visits of this
 * browser), the optional display name and team, and the thank-you when a job the
 * volunteer helped has finished: its final test accuracy, shown once per job (the
 * jobs thanked for are remembered in localStorage).
 */
import { checkVolunteerText, type JobContribution, type VolunteerRecord } from '../../shared/volunteer-protocol.js';
import { formatCount, formatDuration, formatPercent } from './format.js';
import { VolunteerApiError, volunteerApi } from './volunteer-api.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const THANKED_KEY = 'downpour.thanked';
const THANKED_KEPT = 100;
/** A finished job's final evaluation runs after it ends: ask again this often, this many times. */
const FINAL_RETRY_MS = 3000;
const FINAL_RETRIES = 40;
const FINISHED: ReadonlySet<string> = new Set(['done', 'stopped', 'failed']);

function loadThanked(): string[] {
  try {
    const raw: unknown = JSON.parse(localStorage.getItem(THANKED_KEY) ?? '[]');
    return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function thankYou(c: JobContribution): string {
  const gave = `You gave it ${formatCount(c.examples)} examples and ${formatDuration(c.computeSeconds)} of compute.`;
  const job = c.job!;
  const accuracy = job.accuracy === null ? null : formatPercent(job.accuracy);
  if (job.state === 'failed') return `“${c.jobName}” ended without a result. Thank you for helping all the same. ${gave}`;
  const how = job.state === 'done' ? 'is finished' : 'was stopped by its operator';
  return `Thank you! “${c.jobName}” ${how}${accuracy ? `: its final test accuracy is ${accuracy}` : ''}. ${gave}`;
}

export class ContributionPanel {
  private readonly thanked = new Set(loadThanked());
  private profileShown = false;
  private retries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;
  private again = false;

  constructor(private readonly volunteerId: string) {
    $('profile').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.saveProfile();
    });
    $('thanks-dismiss').addEventListener('click', () => ($('thanks').hidden = true));
  }

  /** Fetches the record again; calls that come while one is in flight make one more fetch after it. */
  refresh(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = volunteerApi
      .record(this.volunteerId)
      .then((r) => this.show(r))
      .catch(() => {
        // The coordinator is away: the totals stay as they were; the next refresh tries again.
      })
      .finally(() => {
        this.inFlight = null;
        if (this.again) {
          this.again = false;
          void this.refresh();
        }
      });
    return this.inFlight;
  }

  private show(r: VolunteerRecord): void {
    $('lasting-examples').textContent = formatCount(r.examples);
    $('lasting-time').textContent = formatDuration(r.computeSeconds);
    $('lasting-jobs').textContent = r.jobs.length ? r.jobs.map((j) => `${j.jobName} (${formatCount(j.examples)})`).join(', ') : 'none yet';
    if (!this.profileShown) {
      // Once: a later refresh must not overwrite what the volunteer is typing.
      this.profileShown = true;
      $<HTMLInputElement>('display-name').value = r.displayName ?? '';
      $<HTMLInputElement>('team').value = r.team ?? '';
    }
    this.thank(r);
  }

  private thank(r: VolunteerRecord): void {
    const finished = r.jobs.filter((j) => j.examples > 0 && j.job && FINISHED.has(j.job.state) && !this.thanked.has(j.jobId));
    const ready = finished.filter((j) => j.job!.final || j.job!.state === 'failed');
    if (ready.length) {
      $('thanks-text').textContent = ready.map(thankYou).join(' ');
      $('thanks').hidden = false;
      for (const j of ready) this.thanked.add(j.jobId);
      try {
        localStorage.setItem(THANKED_KEY, JSON.stringify([...this.thanked].slice(-THANKED_KEPT)));
      } catch {
        // Not remembered: the thanks may come again on a later visit.
      }
    }
    // Finished, but the final evaluation is still running: ask again shortly.
    if (finished.length > ready.length && this.retries < FINAL_RETRIES && !this.retryTimer) {
      this.retries++;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.refresh();
      }, FINAL_RETRY_MS);
    }
  }

  private async saveProfile(): Promise<void> {
    const status = $('profile-status');
    const name = checkVolunteerText('displayName', $<HTMLInputElement>('display-name').value);
    const team = checkVolunteerText('team', $<HTMLInputElement>('team').value);
    $('display-name').setAttribute('aria-invalid', String(!name.ok));
    $('team').setAttribute('aria-invalid', String(!team.ok));
    if (!name.ok || !team.ok) {
      // The first bad field gets the message and the focus.
      status.textContent = !name.ok ? name.message : !team.ok ? team.message : '';
      $(!name.ok ? 'display-name' : 'team').focus();
      return;
    }
    status.textContent = 'Saving…';
    try {
      const r = await volunteerApi.saveProfile(this.volunteerId, { displayName: name.value, team: team.value });
      $<HTMLInputElement>('display-name').value = r.displayName ?? '';
      $<HTMLInputElement>('team').value = r.team ?? '';
      status.textContent = r.displayName
        ? `Saved. The leaderboard shows you as “${r.displayName}”${r.team ? ` in team “${r.team}”` : ''}.`
        : `Saved. You are anonymous on the leaderboard${r.team ? `; your examples count for team “${r.team}”` : ''}.`;
      this.show(r);
    } catch (err) {
      status.textContent = err instanceof VolunteerApiError ? `Not saved: ${err.message}` : 'Not saved: the coordinator cannot be reached';
    }
  }
}
