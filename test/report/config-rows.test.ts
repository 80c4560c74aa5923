/** Tables group by the full configuration: a row only ever aggregates seeds of one configuration. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate, formatLatex, formatMarkdown, type LoadedResult } from '../../src/report/index.js';
import { buildRunConfig, settingPath, type RunConfigInput } from '../../src/eval/run-config.js';
import { UserError } from '../../src/util/errors.js';
import { makeResult } from './fixtures.js';

/** A base-to-new result as a run of this version writes it (full configuration, tag). */
function run(i: Partial<RunConfigInput> & { seed: number; base: number; novel: number }): LoadedResult {
  const config = buildRunConfig({ protocol: 'base2new', dataset: 'eurosat', root: '/data', method: 'mpl', shots: 16, backbone: 'ViT-B/16', ...i });
  const result = makeResult({
    protocol: 'base2new', method: config.method, dataset: config.dataset, seed: i.seed, base: i.base, new: i.novel,
    tag: settingPath(config), config: config as unknown as Record<string, unknown>,
  });
  return { file: `${config.dataset}/${settingPath(config)}/seed${i.seed}/result.json`, result };
}

describe('rows by configuration', () => {
  it('MPL at depth 3 and at depth 2 are two rows, each of its own seeds', () => {
    const report = aggregate([
      run({ seed: 1, base: 90, novel: 70, methodOptions: { depth: 3 } }),
      run({ seed: 2, base: 92, novel: 72, methodOptions: { depth: 3 } }),
      run({ seed: 1, base: 80, novel: 60, methodOptions: { depth: 2 } }),
    ]);
    const rows = report.base2new!;
    assert.deepEqual(Object.keys(rows), ['mpl@d2', 'mpl@d3']);
    assert.equal(rows['mpl@d3'].datasets.eurosat.n_seeds, 2);
    assert.equal(rows['mpl@d3'].datasets.eurosat.mean.base, 91);
    assert.equal(rows['mpl@d2'].datasets.eurosat.n_seeds, 1);
    assert.equal(rows['mpl@d3'].tag, 'shots_16/mpl/vit_b16_c1_add2_rm1_d3_ep5');
    const md = formatMarkdown(report);
    assert.match(md, /\| MPL \(d2\) \|/);
    assert.match(md, /Run folders \(below <out>\/<protocol>\/<dataset>\/\): MPL \(d2\) = `shots_16\/mpl\/vit_b16_c1_add2_rm1_d2_ep5-\*`; MPL \(d3\) = `shots_16\/mpl\/vit_b16_c1_add2_rm1_d3_ep5-\*`\./);
  });

  it('settings that the tag does not show (lr at the default vs another, precision, template) still split rows', () => {
    const report = aggregate([
      run({ seed: 1, base: 90, novel: 70, lr: 0.01 }),
      run({ seed: 1, base: 90, novel: 70 }),
      run({ seed: 1, base: 90, novel: 70, precision: 'bf16' }),
      run({ seed: 1, base: 90, novel: 70, methodOptions: { ctxInit: 'a picture of a' } }),
    ]);
    const keys = Object.keys(report.base2new!);
    // named by the settings that differ (issue 21: two of them were an opaque #hash); the official config keeps the plain name
    assert.deepEqual(keys.sort(), ['mpl', 'mpl@bf16', 'mpl@ctx_init="a picture of a"', 'mpl@lr0.01']);
    const md = formatMarkdown(report);
    assert.match(md, /\| MPL \(ctx_init="a picture of a"\) \|/);
    assert.doesNotMatch(md, /#[0-9a-f]{6}/);
  });

  it('each row names the settings where it departs from the default, with their values', () => {
    const report = aggregate([
      run({ seed: 1, base: 90, novel: 70, lr: 0.01, momentum: 0.8 }),
      run({ seed: 1, base: 90, novel: 70, lr: 0.01 }),
      run({ seed: 1, base: 90, novel: 70, momentum: 0.8 }),
    ]);
    assert.deepEqual(Object.keys(report.base2new!).sort(), ['mpl@lr0.01', 'mpl@lr0.01,momentum=0.8', 'mpl@momentum=0.8']);
  });

  it('a schedule run is named by its schedule, never by the add/remove counts it did not use', () => {
    const schedule = '1:add3,rm1;2-4:add3,rm2';
    const report = aggregate([
      run({ seed: 1, base: 90, novel: 70 }),
      run({ seed: 1, base: 91, novel: 71, methodOptions: { schedule } }),
    ]);
    assert.deepEqual(Object.keys(report.base2new!).sort(), ['mpl', `mpl@schedule ${schedule}`]);
    // the row names say so; its folder keeps its frozen tag (test/eval/run-identity.test.ts), given as a folder
    const md = formatMarkdown(report);
    assert.match(md, /^\| MPL \(schedule 1:add3,rm1;2-4:add3,rm2\) \|/m);
    assert.doesNotMatch(md.split('\n').filter((l) => l.startsWith('|')).join('\n'), /add2/);
    assert.match(md, /MPL \(schedule 1:add3,rm1;2-4:add3,rm2\) = `shots_16\/mpl\/vit_b16_c1_add2_rm1_d9_sched_ep5-\*`/);
  });

  it('a row evaluated on a test subset is marked apart from the full test split, in every format', () => {
    const subset = run({ seed: 1, base: 90, novel: 70, maxTestImages: 1000 });
    subset.result.eval_subset = true;
    // a limit that cut nothing (a split of at most 1000 images) is the full test: not marked
    const uncut = run({ seed: 1, base: 80, novel: 60, method: 'maple', maxTestImages: 1000 });
    uncut.result.eval_subset = false;
    const report = aggregate([subset, run({ seed: 1, base: 80, novel: 60, method: 'coop' }), uncut]);
    assert.equal(report.base2new!.maple.test_subset, null);
    assert.equal(report.base2new!.mpl.test_subset, 1000);
    assert.equal(report.base2new!.coop.test_subset, null);
    const md = formatMarkdown(report);
    assert.match(md, /^\| MPL † \|/m);
    assert.match(md, /^\| CoOp \|/m);
    assert.match(md, /† evaluated on an evenly strided subset of at most 1000 test images of a larger test split, not the full split/);
    assert.match(md, /^\| MaPLe \|/m);
    const tex = formatLatex(report);
    assert.match(tex, /MPL\$\^\\dagger\$ &/);
    assert.match(tex, /\$\^\\dagger\$ evaluated on an evenly strided subset of at most 1000 test images/);
  });

  it('one configuration over several datasets is one row; benchmark data moved elsewhere is the same configuration', () => {
    const report = aggregate([
      run({ seed: 1, base: 90, novel: 70 }),
      run({ seed: 2, base: 90, novel: 70, root: '/elsewhere' }),
      run({ seed: 1, base: 80, novel: 60, dataset: 'dtd' }),
    ]);
    assert.deepEqual(Object.keys(report.base2new!), ['mpl']);
    assert.equal(report.base2new!.mpl.datasets.eurosat.n_seeds, 2);
  });

  it('two image folders under the same name in one column are refused, naming the difference', () => {
    assert.throws(
      () => aggregate([run({ seed: 1, base: 90, novel: 70, dataset: 'imagefolder', root: '/a' }), run({ seed: 2, base: 90, novel: 70, dataset: 'imagefolder', root: '/b' })]),
      (e: Error) => e instanceof UserError && /different configurations of base2new mpl on imagefolder \(root: "\/a" → "\/b"\); give custom datasets distinct --name/.test(e.message),
    );
  });
});
