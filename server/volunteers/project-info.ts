/**
 * The project a coordinator presents to volunteers before they consent: its name, who
 * runs it, how to reach them and what they keep. Set by the coordinator's owner
 * (flags or environment, see server/main.ts); validated here, once, for both.
 */
import type { ProjectInfo } from '../../shared/volunteer-protocol.js';

export const PROJECT_LIMITS = { name: 80, operator: 120, contact: 200, privacy: 2000 } as const;

export const DEFAULT_PROJECT: ProjectInfo = { name: 'Downpour', operator: null, contact: null, privacy: null };

/** Raw text as given; null, undefined or blank leaves the default. */
export type ProjectInput = Partial<Record<keyof ProjectInfo, string | null | undefined>>;

export class ProjectInfoError extends Error {
  constructor(
    readonly field: keyof ProjectInfo,
    message: string,
  ) {
    super(message);
    this.name = 'ProjectInfoError';
  }
}

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;

/** An email address or an absolute http(s) URL: the page makes a mailto: or a plain link of it, never anything else. */
export function isContact(text: string): boolean {
  if (EMAIL.test(text)) return true;
  try {
    const u = new URL(text);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/**
 * Trims each field and checks its length (and the contact's form); throws a
 * ProjectInfoError naming the field. Control characters other than line breaks in the
 * privacy text are refused: the page shows these words as they are.
 */
export function parseProjectInfo(input: ProjectInput): ProjectInfo {
  const text = (field: keyof ProjectInfo, multiline = false): string | null => {
    const raw = input[field]?.trim();
    if (!raw) return null;
    const max = PROJECT_LIMITS[field];
    if (raw.length > max) throw new ProjectInfoError(field, `${field} is ${raw.length} characters long; at most ${max}`);
    const control = multiline ? /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/ : /[\u0000-\u001f\u007f]/;
    if (control.test(raw)) throw new ProjectInfoError(field, `${field} holds a control character`);
    return raw;
  };
  const contact = text('contact');
  if (contact !== null && !isContact(contact)) {
    throw new ProjectInfoError('contact', `contact must be an email address or an http(s) URL, got "${contact.slice(0, 60)}"`);
  }
  return {
    name: text('name') ?? DEFAULT_PROJECT.name,
    operator: text('operator'),
    contact,
    privacy: text('privacy', true),
  };
}
