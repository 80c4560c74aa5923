/**
 * What a search leaves for people: the leaderboard (Markdown and CSV: schedule, parameters, step time,
 * objective per seed), the figure (SVG and PNG), the JSON result, and the best schedule as ready flags.
 */
import * as path from 'node:path';
import { csvField } from '../report/format.js';
import { svgToPng } from '../report/svg.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { renderSearchSvg } from './figure.js';
import type { SearchResult } from './search.js';

export interface SearchFiles {
  result: string;
  leaderboard: string;
  csv: string;
  svg: string;
  png: string;
}

const n2 = (v: number | null): string => (v === null ? '-' : v.toFixed(2));

function seedsText(r: SearchResult, c: SearchResult['candidates'][number]): string {
  return r.seeds.map((s) => n2(c.objective_per_seed[String(s)] ?? null)).join(' / ');
}

export function leaderboardMarkdown(r: SearchResult, title: string): string {
  const b = r.budget;
  const lines = [
    `# ${title}`,
    '',
    `Objective: ${r.objective.metric} (${r.objective.validation}), mean over seeds ${r.seeds.join(', ')}.`,
  ];
  if (r.objective.pseudo_base) lines.push(`Pseudo-base classes: ${r.objective.pseudo_base.join(', ')}; pseudo-new: ${r.objective.pseudo_new!.join(', ')}.`);
  lines.push(
    `Space: depth ${r.space.bounds.depth.min}-${r.space.bounds.depth.max}, add ${r.space.bounds.add.min}-${r.space.bounds.add.max}, rm ${r.space.bounds.rm.min}-${r.space.bounds.rm.max} per layer (${r.space.valid_schedules.toLocaleString('en-US')} valid schedules).`,
    `Successive halving: rungs of ${r.rungs.join(', ')} epochs, eta ${r.eta}, ${r.rounds} round${r.rounds > 1 ? 's' : ''}; ${r.candidates.length} candidates.`,
    `Spent: ${b.trials} trials, ${b.trained_epochs} epochs trained of the ${b.full_training_epochs} that training every candidate fully would take; ${b.train_seconds.toFixed(0)} s training, ${b.eval_seconds.toFixed(0)} s scoring.`,
    '',
    r.best ? `**Best:** \`${r.best.flags}\` — objective ${n2(r.best.objective)}, ${r.best.parameters.toLocaleString('en-US')} trainable parameters.` : '**No candidate reached the full budget.**',
    '',
    `| rank | candidate | flags | parameters | extra tokens | ms/step | epochs | objective | per seed (${r.seeds.join(' / ')}) | origin | status |`,
    '|---:|---|---|---:|---:|---:|---:|---:|---|---|---|',
  );
  for (const c of r.candidates) {
    lines.push(
      `| ${c.rank} | ${c.id} | \`${c.flags}\` | ${c.parameters.toLocaleString('en-US')} | ${c.extra_tokens} | ${c.step_ms === null ? '-' : c.step_ms.toFixed(1)} | ${c.epochs} | ${n2(c.objective)} | ${seedsText(r, c)} | ${c.origin} | ${c.status}${c.over_budget ? ` (${c.over_budget})` : ''} |`,
    );
  }
  const excluded = r.references.filter((x) => x.excluded);
  if (excluded.length) lines.push('', ...excluded.map((x) => `Not searched: ${x.label}: ${x.excluded}.`));
  lines.push('', 'Candidates trained for fewer epochs were stopped by successive halving; their objective is that of their last rung.');
  return lines.join('\n') + '\n';
}

export function leaderboardCsv(r: SearchResult): string {
  const header = ['rank', 'candidate', 'depth', 'schedule', 'parameters', 'extra_tokens', 'step_ms', 'epochs', 'objective', ...r.seeds.map((s) => `objective_seed${s}`), 'origin', 'status'];
  const rows = r.candidates.map((c) => [
    c.rank,
    c.id,
    c.depth,
    c.schedule,
    c.parameters,
    c.extra_tokens,
    c.step_ms,
    c.epochs,
    c.objective,
    ...r.seeds.map((s) => c.objective_per_seed[String(s)] ?? null),
    c.origin,
    c.status,
  ]);
  return [header, ...rows].map((row) => row.map((v) => csvField(v)).join(',')).join('\n') + '\n';
}

/** Writes result.json, the leaderboards and the figure into the search folder. */
export async function writeSearchReport(r: SearchResult, title: string): Promise<SearchFiles> {
  const files: SearchFiles = {
    result: path.join(r.out, 'result.json'),
    leaderboard: path.join(r.out, 'leaderboard.md'),
    csv: path.join(r.out, 'leaderboard.csv'),
    svg: path.join(r.out, 'search.svg'),
    png: path.join(r.out, 'search.png'),
  };
  writeJsonAtomic(files.result, r);
  writeFileAtomic(files.leaderboard, leaderboardMarkdown(r, title));
  writeFileAtomic(files.csv, leaderboardCsv(r));
  const svg = renderSearchSvg(r, title);
  writeFileAtomic(files.svg, svg);
  writeFileAtomic(files.png, await svgToPng(svg));
  return files;
}

/** The terminal summary: the top of the leaderboard and the ready flags. */
export function searchSummary(r: SearchResult, files: SearchFiles, top = 8): string {
  const lines = [`schedule search: ${r.candidates.length} candidates, rungs ${r.rungs.join('/')} epochs, ${r.budget.trained_epochs} of ${r.budget.full_training_epochs} epochs trained`];
  for (const c of r.candidates.slice(0, top)) {
    lines.push(`  ${String(c.rank).padStart(3)}. ${n2(c.objective).padStart(6)}  ${String(c.epochs).padStart(3)} ep  ${c.parameters.toLocaleString('en-US').padStart(11)} params  ${c.flags}  (${c.origin})`);
  }
  if (r.candidates.length > top) lines.push(`  ... ${r.candidates.length - top} more in ${files.leaderboard}`);
  lines.push(r.best ? `best: ${r.best.flags}` : 'no candidate reached the full budget');
  lines.push(`leaderboard ${files.leaderboard}, figure ${files.svg} (.png), result ${files.result}`);
  return lines.join('\n') + '\n';
}
