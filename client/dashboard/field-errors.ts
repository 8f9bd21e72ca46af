/**
 * Puts validation messages where the operator looks: each next to its field, named by
 * the field's label ("Learning rate: must be at most 10"), the field marked invalid,
 * and focus on the first bad field. The server names fields by spec path
 * ("optimizer.learningRate: must be at most 10; batchSize: …"); paths the form has no
 * input for stay in the summary as the server wrote them.
 */
import { h } from './dom.js';

export interface FieldProblem {
  /** Spec path as the server names it, e.g. `optimizer.learningRate`. */
  path: string;
  text: string;
}

/** Splits "a.b: text; c: text" at each "; " that starts another "path: ". */
export function splitProblems(message: string): FieldProblem[] {
  return message
    .split(/;\s+(?=[\w.()]+: )/)
    .map((part) => {
      const m = /^([\w.()]+): ([\s\S]*)$/.exec(part.trim());
      return m ? { path: m[1]!, text: m[2]! } : { path: '', text: part.trim() };
    })
    .filter((p) => p.text !== '');
}

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
      const describedBy = (el.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id && id !== `${el.id}-error`);
      if (describedBy.length) el.setAttribute('aria-describedby', describedBy.join(' '));
      else el.removeAttribute('aria-describedby');
      document.getElementById(`${el.id}-error`)?.remove();
    }
    this.marked = [];
    this.summary.replaceChildren();
  }

  /** A server (or form) message: every part placed, the first bad field focused. */
  show(message: string): void {
    this.showProblems(splitProblems(message));
  }

  showProblems(problems: readonly FieldProblem[]): void {
    this.clear();
    const lines: string[] = [];
    for (const p of problems) {
      const input = this.inputFor(p.path);
      if (!input) {
        lines.push(p.path ? `${p.path}: ${p.text}` : p.text);
        continue;
      }
      const line = `${labelOf(input)}: ${p.text}`;
      lines.push(line);
      this.mark(input, line);
    }
    this.summary.replaceChildren(...lines.map((l) => h('span', { class: 'error-line' }, l)));
    this.firstMarked()?.focus();
  }

  private inputFor(path: string): HTMLElement | null {
    const id = this.fields[path];
    const input = id ? this.form.querySelector<HTMLElement>(`#${id}`) : null;
    // A field in a hidden row (a mode that does not read it) cannot take focus or be seen.
    return input && input.closest('[hidden]') === null ? input : null;
  }

  private mark(input: HTMLElement, line: string): void {
    const errorId = `${input.id}-error`;
    const existing = document.getElementById(errorId);
    if (existing) {
      existing.textContent += `; ${line.slice(line.indexOf(': ') + 2)}`;
      return;
    }
    const error = h('p', { id: errorId, class: 'field-error' }, line);
    (input.closest('.control') ?? input.parentElement!).append(error);
    input.setAttribute('aria-invalid', 'true');
    const describedBy = input.getAttribute('aria-describedby');
    input.setAttribute('aria-describedby', describedBy ? `${describedBy} ${errorId}` : errorId);
    this.marked.push(input);
  }

  private firstMarked(): HTMLElement | undefined {
    return [...this.marked].sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1))[0];
  }
}

/** The text of the input's <label>, without the "(optional)" style notes in brackets. */
function labelOf(input: HTMLElement): string {
  const label = input.id ? document.querySelector(`label[for="${input.id}"]`) : null;
  const text = (label?.textContent ?? input.getAttribute('name') ?? input.id).trim();
  return text.replace(/\s*\([^)]*\)\s*$/, '') || text;
}
