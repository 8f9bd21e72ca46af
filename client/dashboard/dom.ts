/** Tiny DOM helpers: the dashboard builds its markup in code, never from HTML strings. */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard.html has no element #${id}`);
  return el as T;
}

type Attrs = Record<string, string | number | boolean | null | undefined>;

/** Creates an element; `false`/`null` attributes are left out, text children are escaped by the DOM. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Sets text only when it changed, so screen readers and selection are not disturbed every tick. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
