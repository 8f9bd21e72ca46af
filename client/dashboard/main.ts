/**
 * The operator dashboard: sign in with the operator token, then watch and steer jobs.
 * Views are built once; a session is one token and one live socket. Signing out, or
 * the server refusing the token, ends the session and returns to the sign-in form.
 */
import { ApiError, OperatorApi } from './api.js';
import { ChartControls, loadChartSettings } from './chart-controls.js';
import { ChartsPanel } from './charts.js';
import { ComparePanel } from './compare.js';
import { CreateJobForm } from './create-job.js';
import { DatasetUploadForm } from './dataset-upload.js';
import { byId } from './dom.js';
import { JobDetailView } from './job-detail.js';
import { JobList } from './job-list.js';
import { LiveConnection } from './live.js';
import { ConnectionView } from './connection-view.js';
import { SignInForm } from './sign-in.js';
import { DashboardStore, type StoreChange } from './store.js';
import { clearToken, loadToken, saveToken } from './token.js';
import { WorkerTable } from './worker-table.js';
import './dashboard.css';

const app = byId('app');
const signOutButton = byId<HTMLButtonElement>('sign-out');

const api = new OperatorApi({ token: '', onUnauthorized: () => endSession('The coordinator no longer accepts this token. Sign in again.') });
const store = new DashboardStore();
const connectionView = new ConnectionView(byId('connection'), byId('stale-banner'), app, store);
const chartSettings = loadChartSettings();
const charts = new ChartsPanel(byId('charts'), chartSettings);
const compare = new ComparePanel(store, chartSettings);
new ChartControls(chartSettings, () => render(new Set(['series'])));
const jobList = new JobList(byId<HTMLUListElement>('job-list'), store, select);
const create = new CreateJobForm(api, store, select);
const detail = new JobDetailView(api, store, (id) => void create.cloneFrom(id));
const workers = new WorkerTable(byId<HTMLTableSectionElement>('worker-rows'), byId('worker-count'), store);
new DatasetUploadForm(api, () => void create.loadDatasets());
const signIn = new SignInForm(startSession);

let live: LiveConnection | null = null;
let selected: string | null = selectedFromHash();

store.subscribe(render);
signOutButton.addEventListener('click', () => endSession('Signed out.'));

function select(id: string): void {
  selected = id;
  history.replaceState(null, '', `#job=${encodeURIComponent(id)}`);
  render(new Set(['jobs', 'series']));
}

function render(changes: ReadonlySet<StoreChange>): void {
  // Keep a selection while there are jobs: a running one first, else the newest. An empty
  // store (before the first snapshot) keeps the one asked for in the URL (#job=…).
  if (store.jobs.size > 0 && (!selected || !store.jobs.has(selected))) selected = defaultSelection();
  if (changes.has('jobs')) jobList.render(selected);
  // The detail's estimate and by-class view follow the series (ticks, evaluations) too.
  if (changes.has('jobs') || changes.has('series')) detail.render(selected);
  if (changes.has('series') || changes.has('jobs')) {
    charts.update(selected ? (store.jobs.get(selected) ?? null) : null);
    compare.render(selected);
  }
  if (changes.has('workers')) workers.render();
}

function startSession(token: string): void {
  saveToken(token);
  api.setToken(token);
  signIn.hide();
  app.hidden = false;
  signOutButton.hidden = false;
  store.init({ at: 0, jobs: [], workers: [] });
  void create.loadDatasets();
  live = new LiveConnection({
    token,
    store,
    onState: (state) => connectionView.show(state),
    tokenStillValid: async () => {
      try {
        await new OperatorApi({ token }).checkToken();
        return true;
      } catch (err) {
        // Only a definite 401 means the token is gone; a coordinator that is down is retried.
        return !(err instanceof ApiError && err.status === 401);
      }
    },
    onAuthFailure: () => endSession('The live connection refused this token. Sign in again.'),
  });
}

function endSession(message: string): void {
  clearToken();
  api.setToken('');
  live?.close();
  live = null;
  app.hidden = true;
  signOutButton.hidden = true;
  signIn.show(message);
}

function selectedFromHash(): string | null {
  const m = /^#job=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]!) : null;
}

function defaultSelection(): string | null {
  const jobs = [...store.jobs.values()].sort((a, b) => b.info.createdAt - a.info.createdAt);
  return (jobs.find((j) => j.info.state === 'running') ?? jobs[0])?.info.id ?? null;
}

const saved = loadToken();
if (saved) startSession(saved);
else signIn.show();
