/** package.json's scripts, as the tests that keep Node flags in step read them. */
import { readFileSync } from 'node:fs';

const scripts = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The flags script `name` passes node before `entryPoint`; null unless it is `exec node … entryPoint …`. */
export function nodeFlagsOfScript(name: string, entryPoint: string): string[] | null {
  const words = (scripts[name] ?? '').split(/\s+/);
  const entry = words.indexOf(entryPoint);
  if (words[0] !== 'exec' || words[1] !== 'node' || entry < 2) return null;
  return words.slice(2, entry);
}
