/** The reproduction report: our seed means beside the paper's numbers, only for cells whose seeds all finished. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadedResult } from '../../src/report/result-files.js';
import { buildRunConfig, settingPath } from '../../src/eval/run-config.js';
import { reproductionReport } from '../../src/sweep/paper.js';
import { makeResult } from '../report/fixtures.js';

function b2n(method: string, dataset: string, seed: number, novel: number): LoadedResult {
  const config = buildRunConfig({ protocol: 'base2new', dataset, root: '/data', method, seed, shots: 16, backbone: 'ViT-B/16' });
  const result = makeResult({ protocol: 'base2new', method, dataset, seed, base: 90, new: novel, tag: settingPath(config), config: config as unknown as Record<string, unknown> });
  return { file: `${dataset}/${method}/seed${seed}/result.json`, result };
}

it('table2: cells with every seed show ours / paper (difference); unfinished cells show the paper only', () => {
  const planned = ['eurosat', 'dtd'].flatMap((dataset) => [1, 2, 3].map((seed) => ({ protocol: 'base2new' as const, method: 'mpl', dataset, seed })));
  const results = [b2n('mpl', 'eurosat', 1, 80), b2n('mpl', 'eurosat', 2, 81), b2n('mpl', 'eurosat', 3, 82), b2n('mpl', 'dtd', 1, 60)];
  const text = reproductionReport('table2', results, planned, { done: 4, total: 6 });
  assert.match(text, /4 of 6 runs finished\./);
  assert.match(text, /\| Method \| DTD \| EuroSAT \| Avg \|/);
  // EuroSAT: mean 81.00 against the paper's 79.73; DTD has one seed of three: not shown; so no Avg (the
  // paper's, over these two columns: (58.13 + 79.73) / 2)
  assert.match(text, /\| MPL \| – \/ 58\.13 \| 81\.00 \/ 79\.73 \(\+1\.27\) \| – \/ 68\.93 \|/);
  assert.match(text, /Avg: over these columns only/);
  assert.match(text, /## All finished runs/);
  const all = [...results, b2n('mpl', 'dtd', 2, 58), b2n('mpl', 'dtd', 3, 59)];
  const done = reproductionReport('table2', all, planned, { done: 6, total: 6 });
  assert.match(done, /\| MPL \| 59\.00 \/ 58\.13 \(\+0\.87\) \| 81\.00 \/ 79\.73 \(\+1\.27\) \| 70\.00 \/ 68\.93 \(\+1\.07\) \|/);
});
