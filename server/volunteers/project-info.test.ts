import { describe, expect, it } from 'vitest';
import { DEFAULT_PROJECT, ProjectInfoError, parseProjectInfo } from './project-info.js';

describe('parseProjectInfo', () => {
  it('trims, keeps line breaks in the privacy text, and defaults what is blank', () => {
    expect(parseProjectInfo({ name: '  Digits  ', operator: ' Lab ', contact: 'https://lab.example/contact', privacy: 'Line one.\nLine two.' })).toEqual({
      name: 'Digits',
      operator: 'Lab',
      contact: 'https://lab.example/contact',
      privacy: 'Line one.\nLine two.',
    });
    expect(parseProjectInfo({ name: ' ', operator: '', contact: undefined, privacy: null })).toEqual(DEFAULT_PROJECT);
  });

  it.each([
    ['contact', { contact: 'javascript:alert(1)' }, 'email address or an http(s) URL'],
    ['contact', { contact: 'call me maybe' }, 'email address or an http(s) URL'],
    ['contact', { contact: 'ftp://lab.example' }, 'email address or an http(s) URL'],
    ['name', { name: 'x'.repeat(81) }, 'at most 80'],
    ['operator', { operator: 'Lab\u0007' }, 'control character'],
    ['privacy', { privacy: 'y'.repeat(2001) }, 'at most 2000'],
  ] as const)('refuses a bad %s, naming it', (field, input, text) => {
    let thrown: unknown;
    try {
      parseProjectInfo(input);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ProjectInfoError);
    expect((thrown as ProjectInfoError).field).toBe(field);
    expect((thrown as ProjectInfoError).message).toContain(text);
  });

  it('accepts an email address as the contact', () => {
    expect(parseProjectInfo({ contact: 'ml-team@lab.example.org' }).contact).toBe('ml-team@lab.example.org');
  });
});
