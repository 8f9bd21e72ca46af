/**
 * Server validation messages name their fields ("batchSize: Too small…; optimizer.type: …").
 * This puts each part next to its input and marks the input invalid.
 */
import { h } from './dom.js';

export class FieldErrors {
  private marked: HTMLElement[] = [];

  /** fields: spec path (as the server names it) → input id. */
  constructor(
    private readonly form: HTMLFormElement,
    private readonly summary: HTMLElement,
    private readonly fields: Record<string, string>,
  ) {}

  clear(): void {
    for (const el of this.marked) {
      el.removeAttribute('aria-invalid');
      el.removeAttribute('aria-describedby');
      document.getElementById(`${el.id}-error`)?.remove();
    }
    this.marked = [];
    this.summary.textContent = '';
  }

  show(message: string): void {
    this.clear();
    this.summary.textContent = message;
    for (const part of message.split(/;\s*/)) {
      const path = Object.keys(this.fields)
        .sort((a, b) => b.length - a.length)
        .find((p) => new RegExp(`(^|[\\s(])${p.replace('.', '\\.')}:`).test(part));
      if (!path) continue;
      const input = this.form.querySelector<HTMLElement>(`#${this.fields[path]}`);
      if (!input) continue;
      const errorId = `${input.id}-error`;
      const existing = document.getElementById(errorId);
      const text = part.replace(/^.*?:\s*/, '');
      if (existing) existing.textContent += `; ${text}`;
      else input.after(h('span', { id: errorId, class: 'field-error' }, text));
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', errorId);
      this.marked.push(input);
    }
  }
}
