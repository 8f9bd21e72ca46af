import { describe, expect, it } from 'vitest';
import { connectionFacts } from './connection-watch.js';

const conn = (fields: Record<string, unknown>) => Object.assign(new EventTarget(), fields);

describe('connectionFacts', () => {
  it('no API: unknown, and the option can do nothing', () => {
    expect(connectionFacts(undefined)).toMatchObject({ known: false, metered: null });
  });
  it('cellular or the data saver is metered', () => {
    expect(connectionFacts(conn({ type: 'cellular', saveData: false, effectiveType: '4g' }))).toEqual({ known: true, metered: true, said: 'cellular, speed class 4g' });
    expect(connectionFacts(conn({ type: 'wifi', saveData: true }))).toMatchObject({ metered: true, said: 'data saver on, wifi' });
  });
  it('wifi and ethernet are unmetered', () => {
    expect(connectionFacts(conn({ type: 'ethernet', saveData: false }))).toMatchObject({ metered: false });
  });
  it('a desktop Chromium (no type, data saver off) does not say: not held back', () => {
    expect(connectionFacts(conn({ saveData: false, effectiveType: '4g' }))).toEqual({ known: true, metered: null, said: 'data saver off, speed class 4g' });
  });
});
