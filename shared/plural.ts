/** "1 worker", "2 workers": counts in messages people read. English, regular plurals unless given. */
export function countOf(n: number, singular: string, plural = `${singular}s`, format: (n: number) => string = String): string {
  return `${format(n)} ${n === 1 ? singular : plural}`;
}
