/**
 * "Did you mean ...?" for a misspelled name (a dataset, a method): the closest candidates by edit distance
 * (insertions, deletions, substitutions and swaps of neighbours), compared lower-case without '-', '_' and
 * spaces. Close means at most a third of the name's letters (at least one) are wrong, as commander judges
 * misspelled options.
 */
const key = (s: string): string => s.toLowerCase().replace(/[-_ ]/g, '');

/** Optimal string alignment distance (Damerau-Levenshtein without repeated edits of one substring). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidates closest to `name` (all at the same smallest distance), or none when nothing is close. */
export function closest(name: string, candidates: readonly string[]): string[] {
  const n = key(name);
  let best = Infinity;
  let found: string[] = [];
  for (const c of candidates) {
    const k = key(c);
    // a prefix of a longer name ("synth" for "synthshapes") counts as close too
    const dist = k.startsWith(n) && n.length >= 3 ? 1 : editDistance(n, k);
    if (dist < best) {
      best = dist;
      found = [c];
    } else if (dist === best && !found.includes(c)) found.push(c);
  }
  return best <= Math.max(1, Math.floor(n.length / 3)) ? found : [];
}

/** " (did you mean eurosat?)" or "" when nothing is close. */
export function didYouMean(name: string, candidates: readonly string[]): string {
  const c = closest(name, candidates);
  return c.length ? `did you mean ${c.join(' or ')}?` : '';
}
