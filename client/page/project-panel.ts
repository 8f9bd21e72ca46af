/**
 * What the volunteer reads before consenting: who runs the coordinator (its owner's
 * words, as text) and the job a tab would train, with its model, data and progress.
 */
import type { JobCard, ProjectInfo } from '../../shared/volunteer-protocol.js';
import { formatCount, formatPercent } from './format.js';

const $ = (id: string) => document.getElementById(id)!;

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;

/** A link only for what the coordinator validated (an email address or an http(s) URL); anything else stays text. */
function contactNode(contact: string): Node {
  let href: string | null = null;
  if (EMAIL.test(contact)) href = `mailto:${contact}`;
  else {
    try {
      const u = new URL(contact);
      if (u.protocol === 'https:' || u.protocol === 'http:') href = u.href;
    } catch {
      // Not a URL: shown as text.
    }
  }
  if (!href) return document.createTextNode(contact);
  const a = document.createElement('a');
  a.href = href;
  a.rel = 'noopener noreferrer';
  a.textContent = contact;
  return a;
}

export function renderProject(p: ProjectInfo): void {
  $('project-name').textContent = p.name;
  $('project-operator').textContent = p.operator ?? 'not given';
  $('project-contact').replaceChildren(p.contact ? contactNode(p.contact) : document.createTextNode('not given'));
  $('project-unnamed').hidden = p.operator !== null && p.contact !== null;
  const privacy = $('project-privacy');
  privacy.hidden = p.privacy === null;
  privacy.textContent = p.privacy ? `What the operator keeps: ${p.privacy}` : '';
}

/** `card` null: nothing is running. `pending`: still asking the coordinator. */
export function renderJob(card: JobCard | null, pending = false): void {
  $('job-name').textContent = card ? card.name : pending ? '—' : 'no job right now';
  $('job-description').textContent = card?.description ?? '';
  const facts = $('job-facts');
  facts.hidden = !card;
  if (!card) return;
  $('job-model').textContent = `${card.modelDescription} (${card.model}, ${formatCount(card.parameters)} parameters)`;
  $('job-dataset').textContent = `${card.dataset}: ${formatCount(card.trainExamples)} training examples, ${card.numClasses} classes`;
  const progress = [
    `${formatCount(card.examplesSeen)} examples trained`,
    `${formatCount(card.workers)} ${card.workers === 1 ? 'tab' : 'tabs'} training now`,
    card.accuracy === null ? 'not evaluated yet' : `test accuracy ${formatPercent(card.accuracy)}`,
  ];
  if (card.state !== 'running') progress.unshift(card.state);
  $('job-progress').textContent = progress.join(' · ');
}
