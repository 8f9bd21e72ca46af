/**
 * The controls above the charts, as TensorBoard has them: a smoothing slider (the
 * EMA weight, 0 to 0.99) and log-scale loss axes. They apply to the job's charts and
 * to the comparison chart, and are remembered in localStorage.
 */
import type { ChartSettings } from './charts.js';
import { byId, setText } from './dom.js';

const KEY = 'downpour.chartSettings';

export function loadChartSettings(): ChartSettings {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<ChartSettings>;
    const smoothing = typeof saved.smoothing === 'number' && saved.smoothing >= 0 && saved.smoothing < 1 ? saved.smoothing : 0;
    return { smoothing, log: saved.log === true };
  } catch {
    return { smoothing: 0, log: false };
  }
}

export class ChartControls {
  private readonly slider = byId<HTMLInputElement>('chart-smoothing');
  private readonly output = byId<HTMLOutputElement>('chart-smoothing-value');
  private readonly log = byId<HTMLInputElement>('chart-log');

  /** `settings` is shared with the chart panels and changed in place. */
  constructor(
    private readonly settings: ChartSettings,
    onChange: () => void,
  ) {
    this.slider.value = String(settings.smoothing);
    this.log.checked = settings.log;
    this.show();
    this.slider.addEventListener('input', () => {
      settings.smoothing = Math.min(0.99, Math.max(0, Number(this.slider.value)));
      this.changed(onChange);
    });
    this.log.addEventListener('change', () => {
      settings.log = this.log.checked;
      this.changed(onChange);
    });
  }

  private changed(onChange: () => void): void {
    this.show();
    localStorage.setItem(KEY, JSON.stringify(this.settings));
    onChange();
  }

  private show(): void {
    setText(this.output, this.settings.smoothing > 0 ? this.settings.smoothing.toFixed(2) : 'off');
  }
}
