/**
 * Whether this device's connection is metered, for "only on unmetered connections",
 * from the Network Information API (navigator.connection) where the browser has it.
 * Metered: the volunteer turned on the browser's data saver (`saveData`), or the link is
 * cellular (`type`). Unmetered: the link is wifi or ethernet. Chromium on desktops has
 * the API but no `type` (Android and ChromeOS have it), so there only the data saver
 * tells; Firefox and Safari have no API at all, and the option does nothing there (the
 * page says so). `effectiveType` (4g, 3g…) is a speed class, not a price: it is shown,
 * never read as metered.
 */

/** What navigator.connection holds, where it exists. */
interface NetworkInformationLike extends EventTarget {
  type?: string;
  saveData?: boolean;
  effectiveType?: string;
}

export interface ConnectionFacts {
  /** False: the browser has no navigator.connection. */
  known: boolean;
  /** True: metered; false: known to be unmetered; null: the browser does not say. */
  metered: boolean | null;
  /** Words for the volunteer: what the browser reported. */
  said: string;
}

const UNMETERED_TYPES: ReadonlySet<string> = new Set(['wifi', 'ethernet']);

export function connectionFacts(c: NetworkInformationLike | undefined): ConnectionFacts {
  if (!c) return { known: false, metered: null, said: 'this browser does not say what its connection costs' };
  const parts: string[] = [];
  let metered: boolean | null = null;
  if (c.saveData === true) {
    metered = true;
    parts.push('data saver on');
  }
  if (c.type === 'cellular') {
    metered = true;
    parts.push('cellular');
  } else if (c.type && UNMETERED_TYPES.has(c.type)) {
    metered ??= false;
    parts.push(c.type);
  } else if (c.saveData === false) parts.push('data saver off');
  if (c.effectiveType) parts.push(`speed class ${c.effectiveType}`);
  return { known: true, metered, said: parts.join(', ') || 'nothing about its cost' };
}

/** The facts now, and a call whenever the browser reports a change. */
export function watchConnection(onChange: (facts: ConnectionFacts) => void): () => ConnectionFacts {
  const c = (navigator as Navigator & { connection?: NetworkInformationLike }).connection;
  c?.addEventListener('change', () => onChange(connectionFacts(c)));
  return () => connectionFacts(c);
}
