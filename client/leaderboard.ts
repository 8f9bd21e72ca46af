/**
 * The public leaderboard (/leaderboard): named volunteers, the anonymous rest added up,
 * and teams. Names are the volunteers' own words: they are set as text, never as markup.
 */
import type { Leaderboard } from '../shared/volunteer-protocol.js';
import { formatCount, formatDuration } from './page/format.js';
import { volunteerApi } from './page/volunteer-api.js';

const REFRESH_MS = 30_000;
const $ = (id: string) => document.getElementById(id)!;

function row(cells: { text: string; num?: boolean; note?: boolean }[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = c.text;
    if (c.num) td.className = 'num';
    if (c.note) td.classList.add('note');
    tr.append(td);
  }
  return tr;
}

function empty(columns: number, text: string): HTMLTableRowElement {
  const tr = document.createElement('tr');
  const td = document.createElement('td');
  td.colSpan = columns;
  td.className = 'note';
  td.textContent = text;
  tr.append(td);
  return tr;
}

function show(board: Leaderboard): void {
  const volunteers = board.volunteers.map((v, i) =>
    row([{ text: String(i + 1), num: true }, { text: v.name }, { text: v.team ?? '—' }, { text: formatCount(v.examples), num: true }, { text: formatDuration(v.computeSeconds), num: true }]),
  );
  if (board.anonymous.volunteers > 0) {
    const a = board.anonymous;
    volunteers.push(
      row([
        { text: '' },
        { text: `anonymous (${formatCount(a.volunteers)} ${a.volunteers === 1 ? 'volunteer' : 'volunteers'})`, note: true },
        { text: '' },
        { text: formatCount(a.examples), num: true },
        { text: formatDuration(a.computeSeconds), num: true },
      ]),
    );
  }
  $('volunteers').querySelector('tbody')!.replaceChildren(...(volunteers.length ? volunteers : [empty(5, 'Nobody has contributed yet.')]));
  const teams = board.teams.map((t, i) =>
    row([{ text: String(i + 1), num: true }, { text: t.team }, { text: formatCount(t.members), num: true }, { text: formatCount(t.examples), num: true }, { text: formatDuration(t.computeSeconds), num: true }]),
  );
  $('teams').querySelector('tbody')!.replaceChildren(...(teams.length ? teams : [empty(5, 'No team yet: volunteers choose one on the training page.')]));
  $('board-status').textContent = `As of ${new Date(board.at).toLocaleTimeString()}.`;
}

async function load(): Promise<void> {
  try {
    show(await volunteerApi.leaderboard());
  } catch {
    $('board-status').textContent = 'The coordinator cannot be reached right now; trying again shortly.';
  }
}

void volunteerApi.project().then((p) => ($('project-name').textContent = `to ${p.name}`), () => {});
void load();
setInterval(() => void load(), REFRESH_MS);
