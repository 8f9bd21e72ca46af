/** Paints an EngineStatus (and why the tab is not computing) into the volunteer page. */
import type { EngineStatus } from '../engine/status.js';
import { formatCount, formatDuration, setText } from './format.js';
import { renderTraffic } from './network-panel.js';
import type { TrainerLockState } from './trainer-lock.js';

const $ = (id: string) => document.getElementById(id)!;

export interface PageSituation {
  /** The volunteer has pressed Start (now or in an earlier visit) and not Pause. */
  wanted: boolean;
  /** The volunteer pressed Start at some point (a Pause since then keeps this true). */
  consented: boolean;
  /** Why the tab is auto-paused, e.g. "the tab is hidden"; empty when it is not. */
  autoPausedBecause: string[];
  forcedBackend: string | null;
  fatal: string | null;
  /** This tab's part in the browser's one-trainer rule; null for pages exempt from it (?autostart=1). */
  tab: TrainerLockState | null;
}

const waitingForTab = (p: PageSituation) => p.wanted && p.tab?.role === 'waiting';

/** One sentence for the volunteer about what the tab is doing and what happens next. */
function notice(s: EngineStatus, p: PageSituation): { text: string; tone: 'info' | 'ok' | 'warn' } {
  if (p.fatal) return { text: `Training stopped: ${p.fatal}. Reloading the page may help.`, tone: 'warn' };
  if (!p.wanted && p.consented) return { text: 'Paused. Nothing is computed until you press Start again.', tone: 'info' };
  if (!p.wanted) return { text: 'Nothing runs until you press Start. You can pause or close the tab at any time.', tone: 'info' };
  if (waitingForTab(p)) return { text: 'This tab is not computing: another tab of this browser is.', tone: 'info' };
  if (p.autoPausedBecause.length) return { text: `Paused because ${p.autoPausedBecause.join(' and ')}; it resumes by itself.`, tone: 'info' };
  switch (s.state) {
    case 'stopped':
    case 'connecting':
      return { text: 'Connecting to the coordinator…', tone: 'info' };
    case 'offline':
      return { text: 'The coordinator cannot be reached right now. This tab reconnects by itself — no need to reload.', tone: 'warn' };
    case 'waiting-for-job':
      return { text: 'There is no job to train right now. This tab starts by itself when the operator starts one.', tone: 'info' };
    case 'waiting-for-replica':
      return { text: 'This job splits its model over several tabs: waiting for enough of them to form a model replica…', tone: 'info' };
    case 'selecting-backend':
      return { text: `Measuring which backend trains fastest on this device… ${s.message ?? ''}`, tone: 'info' };
    case 'training':
      return s.stage
        ? {
            text: `Training stage ${s.stage.stage + 1} of ${s.stage.of} of model replica ${s.stage.replicaId} (layers ${s.stage.from}–${s.stage.to - 1}), passing activations ${s.stage.path === 'webrtc' ? 'tab to tab over WebRTC' : 'through the coordinator'}. Thank you!`,
            tone: 'ok',
          }
        : { text: 'Training. Thank you!', tone: 'ok' };
    case 'paused':
      return { text: 'Paused.', tone: 'info' };
    case 'error':
      return { text: `Something went wrong: ${s.message ?? 'unknown error'}. Retrying…`, tone: 'warn' };
    default: {
      const check: never = s.state;
      return { text: String(check), tone: 'info' };
    }
  }
}

export function render(s: EngineStatus, p: PageSituation): void {
  const stateText = !p.wanted
    ? p.consented
      ? 'paused'
      : 'not started'
    : waitingForTab(p)
      ? 'another tab is training'
      : p.autoPausedBecause.length
        ? 'auto-paused'
        : s.state.replace(/-/g, ' ');
  setText($('state'), stateText);
  const tabBox = $('tab-notice');
  tabBox.hidden = !waitingForTab(p);
  setText($('tab-notice-text'), p.tab?.takenOver
    ? 'Another tab of this browser took over training, so this one stopped: one tab per browser trains, so they do not compete for your device. This tab carries on if that one closes or pauses.'
    : 'Another tab of this browser is already training: one tab per browser trains, so they do not compete for your device. This tab carries on if that one closes or pauses.');
  const n = notice(s, p);
  const box = $('notice');
  setText(box, n.text);
  if (box.dataset.tone !== n.tone) box.dataset.tone = n.tone;
  setText($('backend'), s.backend ? `${s.backend}${p.forcedBackend ? ' (forced)' : ''}` : '—');
  setText($('adapter'), s.adapter
    ? `${s.adapter.vendor || 'unknown vendor'} ${s.adapter.architecture || s.adapter.description}${s.adapter.isFallbackAdapter ? ' (software fallback)' : ''}`
    : (s.webgpuUnavailable ?? '—'));
  setText($('eps'), formatCount(s.examplesPerSecond));
  setText($('examples'), formatCount(s.examplesContributed));
  setText($('time'), formatDuration(s.secondsTraining));
  setText($('accepted'), formatCount(s.pushesAccepted));
  setText($('rejected'), formatCount(Object.values(s.pushesRejected).reduce((a, b) => a + b, 0)));
  renderTraffic(s);
}
