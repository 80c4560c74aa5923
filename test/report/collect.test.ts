import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers.js';
import { harmonicMean } from '../../src/eval/results.js';
import { UserError } from '../../src/util/errors.js';
import { aggregate, collect, populationStd, reportToJson } from '../../src/report/collect.js';
import { findResultFiles, loadResults } from '../../src/report/result-files.js';
import { B2N, makeResult, mean, popStd, writeFixtureResults, writeResult, XD } from './fixtures.js';

const out = tmpDir('mpl-report-');
const nFiles = writeFixtureResults(out);

describe('collect: finding and aggregating result files', () => {
  it('finds every result.json once, even through overlapping folders', () => {
    assert.equal(findResultFiles([out]).length, nFiles);
    assert.equal(findResultFiles([out, path.join(out, 'base2new'), out]).length, nFiles);
    const one = findResultFiles([out])[0];
    assert.deepEqual(findResultFiles([one]), [one]);
  });

  it('base2new per dataset: mean over seeds, population std, HM of the means', () => {
    const report = collect([out]);
    assert.equal(report.n_results, nFiles);
    assert.deepEqual(Object.keys(report.base2new!), ['coop', 'mpl']);
    for (const [method, byDataset] of Object.entries(B2N)) {
      // Datasets in the papers' order: Caltech101 before EuroSAT.
      assert.deepEqual(Object.keys(report.base2new![method].datasets), ['caltech101', 'eurosat']);
      for (const [dataset, seeds] of Object.entries(byDataset)) {
        const cell = report.base2new![method].datasets[dataset];
        const base = mean(seeds.map((s) => s.base));
        const novel = mean(seeds.map((s) => s.new));
        const hms = seeds.map((s) => harmonicMean(s.base, s.new));
        assert.equal(cell.n_seeds, 2);
        assert.deepEqual(cell.seeds.map((s) => s.seed), [1, 2]);
        assert.deepEqual(cell.seeds.map((s) => s.hm), hms);
        assert.equal(cell.mean.base, base);
        assert.equal(cell.mean.new, novel);
        assert.equal(cell.mean.hm, (2 * base * novel) / (base + novel));
        assert.equal(cell.std.base, popStd(seeds.map((s) => s.base)));
        assert.equal(cell.std.new, popStd(seeds.map((s) => s.new)));
        assert.equal(cell.std.hm, popStd(hms));
        assert.equal(cell.mean_seed_hm, mean(hms));
        assert.equal(cell.train_seconds, mean(seeds.map((s) => s.t)));
      }
    }
    // Concrete values (two seeds: population std = half the difference, not the n−1 sample std).
    const c = report.base2new!.coop.datasets.caltech101;
    assert.equal(c.mean.base, 97.5);
    assert.equal(c.std.base, 0.5);
    assert.equal(c.mean.new, 89);
    assert.equal(c.std.new, 1);
    // The HM of the means is not the mean of the per-seed HMs on this data: the rule matters.
    const e = report.base2new!.coop.datasets.eurosat;
    assert.notEqual(e.mean.hm, e.mean_seed_hm);
    assert.ok(Math.abs(e.mean.hm - e.mean_seed_hm) > 0.1);
  });

  it('the Average: mean of the dataset means, HM of those (not the mean of the HMs)', () => {
    const report = collect([out]);
    for (const [method, byDataset] of Object.entries(B2N)) {
      const bases = Object.values(byDataset).map((seeds) => mean(seeds.map((s) => s.base)));
      const news = Object.values(byDataset).map((seeds) => mean(seeds.map((s) => s.new)));
      const avg = report.base2new![method].average;
      assert.equal(avg.base, mean(bases));
      assert.equal(avg.new, mean(news));
      assert.equal(avg.hm, (2 * avg.base * avg.new) / (avg.base + avg.new));
      assert.equal(avg.n_datasets, 2);
      assert.deepEqual(avg.datasets, ['caltech101', 'eurosat']);
      const meanOfHms = mean(bases.map((b, i) => harmonicMean(b, news[i])));
      assert.ok(Math.abs(avg.hm - meanOfHms) > 0.05, `${method}: average HM must differ from the mean of HMs here`);
      const times = Object.values(byDataset).map((seeds) => mean(seeds.map((s) => s.t)));
      assert.equal(avg.train_seconds, mean(times));
    }
    // By hand for coop: base (97.5 + 91.5)/2 = 94.5, new (89 + 55.375)/2 = 72.1875.
    assert.equal(report.base2new!.coop.average.base, 94.5);
    assert.equal(report.base2new!.coop.average.new, 72.1875);
  });

  it('MaPLe\'s published average reproduces with the rule of spec §2.5', () => {
    assert.equal(harmonicMean(82.28, 75.14).toFixed(2), '78.55');
  });

  it('cross-dataset: mean/std per target, Avg over the targets without the source', () => {
    const report = collect([out]);
    const xd = report.accuracy.xd!;
    assert.deepEqual(Object.keys(xd), ['coop', 'mpl']);
    for (const [method, seeds] of Object.entries(XD)) {
      const cell = xd[method].datasets.imagenet;
      assert.equal(cell.n_seeds, 2);
      assert.equal(cell.source, 'imagenet');
      for (const t of ['imagenet', 'caltech101', 'dtd', 'eurosat']) {
        assert.equal(cell.mean[t], mean(seeds.map((s) => s.accuracy[t])));
        assert.equal(cell.std[t], popStd(seeds.map((s) => s.accuracy[t])));
        assert.equal(cell.n[t], 2);
      }
      assert.equal(cell.source_accuracy, cell.mean.imagenet);
      assert.equal(cell.target_average, mean(['caltech101', 'dtd', 'eurosat'].map((t) => cell.mean[t])));
      assert.equal(xd[method].average.targets, cell.target_average);
      assert.equal(xd[method].average.source, cell.source_accuracy);
    }
    // coop by hand: caltech 89.25, dtd 37.5, eurosat 42 → 56.25.
    assert.equal(xd.coop.datasets.imagenet.target_average, 56.25);
  });

  it('populationStd is numpy\'s np.std (ddof 0)', () => {
    assert.equal(populationStd([1, 2, 3, 4]), Math.sqrt(1.25));
    assert.equal(populationStd([5]), 0);
  });

  it('--protocol keeps one protocol', () => {
    const report = collect([out], { protocol: 'xd' });
    assert.equal(report.base2new, undefined);
    assert.ok(report.accuracy.xd);
    assert.throws(() => collect([out], { protocol: 'dg' }), (e: Error) => e instanceof UserError && /no dg results/.test(e.message));
  });

  it('runs of one method with different shots become separate rows', () => {
    const dir = tmpDir('mpl-report-shots-');
    for (const shots of [4, 16]) {
      for (const seed of [1, 2]) {
        writeResult(path.join(dir, `s${shots}`), makeResult({ protocol: 'fewshot', method: 'coop', dataset: 'eurosat', seed, shots, accuracy: { eurosat: shots + seed } }));
      }
    }
    const report = collect([dir]);
    assert.deepEqual(Object.keys(report.accuracy.fewshot!), ['coop@4shot', 'coop@16shot']);
    assert.equal(report.accuracy.fewshot!['coop@4shot'].datasets.eurosat.mean.eurosat, 5.5);
  });

  it('JSON view: {protocol: {method: {dataset: {seeds, mean, std}, average, tag}}}', () => {
    const j = reportToJson(collect([out])) as any;
    assert.equal(j.schema, 'mpl-report/1');
    const cell = j.base2new.mpl.eurosat;
    assert.deepEqual(Object.keys(cell.mean), ['base', 'new', 'hm']);
    assert.deepEqual(Object.keys(cell.std), ['base', 'new', 'hm']);
    assert.deepEqual(
      cell.seeds.map((s: any) => [s.seed, s.base, s.new]),
      B2N.mpl.eurosat.map((s) => [s.seed, s.base, s.new]),
    );
    assert.equal(j.base2new.mpl.average.base, mean([98, 94.5]));
    assert.deepEqual(Object.keys(j.base2new.mpl), ['caltech101', 'eurosat', 'average', 'tag', 'test_subset']);
    assert.equal(j.base2new.mpl.tag, 'shots_16/mpl'); // older result files record no settings beyond shots
    assert.equal(j.xd.coop.imagenet.target_average, 56.25);
    assert.equal(j.xd.coop.average.targets, 56.25);
  });
});

describe('collect: bad input', () => {
  const broken = (name: string, content: string): string => {
    const dir = tmpDir('mpl-report-bad-');
    writeFixtureResults(dir);
    const file = path.join(dir, 'base2new', 'dtd', name, 'seed1', 'result.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    return dir;
  };
  const failsNaming = (dir: string, pattern: RegExp) => {
    assert.throws(
      () => loadResults([dir]),
      (e: Error) => {
        assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
        assert.ok(e.message.includes(path.join('dtd')) && e.message.includes('result.json'), e.message);
        assert.match(e.message, pattern);
        return true;
      },
    );
  };

  it('a file that is not JSON is an error naming it', () => {
    failsNaming(broken('coop', '{"schema": "mpl-result/1", '), /not valid JSON/);
  });
  it('a wrong schema is an error naming it', () => {
    failsNaming(broken('coop', JSON.stringify({ ...makeResult({ protocol: 'base2new', method: 'coop', dataset: 'dtd', seed: 1, base: 1, new: 2 }), schema: 'other/2' })), /schema/);
  });
  it('a base2new result without "new" is an error naming the field', () => {
    const r = makeResult({ protocol: 'base2new', method: 'coop', dataset: 'dtd', seed: 1, base: 70 }) as unknown as Record<string, unknown>;
    failsNaming(broken('coop', JSON.stringify(r)), /"new"/);
  });
  it('a missing seed is an error', () => {
    const r = makeResult({ protocol: 'base2new', method: 'coop', dataset: 'dtd', seed: 1, base: 70, new: 60 }) as unknown as Record<string, unknown>;
    delete r.seed;
    failsNaming(broken('coop', JSON.stringify(r)), /"seed"/);
  });
  it('an xd result whose accuracy is not numeric is an error', () => {
    const r = makeResult({ protocol: 'xd', method: 'coop', dataset: 'dtd', seed: 1, accuracy: { dtd: 'high' as unknown as number } });
    failsNaming(broken('coop', JSON.stringify(r)), /accuracy\["dtd"\]/);
  });
  it('two files for the same run are an error naming both', () => {
    const dir = tmpDir('mpl-report-dup-');
    const r = makeResult({ protocol: 'base2new', method: 'coop', dataset: 'dtd', seed: 1, base: 70, new: 60 });
    const a = writeResult(path.join(dir, 'machine1'), r);
    const b = writeResult(path.join(dir, 'machine2'), r);
    assert.throws(() => aggregate(loadResults([dir])), (e: Error) => e instanceof UserError && e.message.includes(a) && e.message.includes(b));
  });
  it('a missing folder, or one without results, is a UserError', () => {
    assert.throws(() => loadResults([path.join(out, 'nope')]), (e: Error) => e instanceof UserError && /nope: no such file/.test(e.message));
    const empty = tmpDir('mpl-report-empty-');
    assert.throws(() => loadResults([empty]), (e: Error) => e instanceof UserError && /no result.json found/.test(e.message));
  });
});
