/**
 * The browser's lasting anonymous volunteer id: 128 random bits made here once and kept
 * in localStorage, so a reload (or a new tab of the same browser profile) adds to the
 * same contribution. Random, never derived from the device or the person (no
 * fingerprint): clearing the site's data makes a new volunteer. crypto.getRandomValues
 * works on plain http too, where crypto.randomUUID does not.
 */
import { VOLUNTEER_ID_PATTERN } from '../../shared/volunteer-protocol.js';

const KEY = 'downpour.volunteer-id';

export function newVolunteerId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The stored id, or a new one stored now; with storage disabled, an id for this visit only. */
export function volunteerId(): string {
  try {
    const stored = localStorage.getItem(KEY);
    if (stored && VOLUNTEER_ID_PATTERN.test(stored)) return stored;
    const id = newVolunteerId();
    localStorage.setItem(KEY, id);
    return id;
  } catch {
    return newVolunteerId();
  }
}
