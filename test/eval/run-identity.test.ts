/**
 * Run identity is frozen: a run's folder (its readable tag and the hash of its whole configuration) must not
 * move when the code is reorganised, or every existing run would be redone and no checkpoint resumed. The
 * folders below were computed by the version before the method registry (commit 3f5279e): each of its eight
 * methods' defaults and a few variants.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { buildRunConfig, runDirOf } from '../../src/eval/run-config.js';
import type { MethodName, MethodOptions } from '../../src/prompting/methods/index.js';

const FROZEN: Array<[MethodName, MethodOptions, string]> = [
  ["zeroshot", {}, "runs/base2new/eurosat/shots_16/zeroshot/vit_b16_single_ep0-4ad2e1c6/seed1"],
  ["zeroshot", {"ensemble":true}, "runs/base2new/eurosat/shots_16/zeroshot/vit_b16_ensemble_ep0-aacc2695/seed1"],
  ["zeroshot", {"template":"a {}."}, "runs/base2new/eurosat/shots_16/zeroshot/vit_b16_single_ep0-cdb24812/seed1"],
  ["coop", {}, "runs/base2new/eurosat/shots_16/coop/vit_b16_c4_ep200-376edd43/seed1"],
  ["coop", {"ctxInit":"","nCtx":16,"csc":true}, "runs/base2new/eurosat/shots_16/coop/vit_b16_c16_csc_ep200-1c375394/seed1"],
  ["coop", {"classTokenPosition":"middle","ctxInit":""}, "runs/base2new/eurosat/shots_16/coop/vit_b16_c4_middle_ep200-4e3e9160/seed1"],
  ["cocoop", {}, "runs/base2new/eurosat/shots_16/cocoop/vit_b16_c4_ep10-84612a6b/seed1"],
  ["cocoop", {"nCtx":8,"ctxInit":""}, "runs/base2new/eurosat/shots_16/cocoop/vit_b16_c8_ep10-715e7f02/seed1"],
  ["vpt", {}, "runs/base2new/eurosat/shots_16/vpt/vit_b16_v8_dv12_ep5-8dfbf02c/seed1"],
  ["vpt", {"depthVision":6,"nCtxVision":4}, "runs/base2new/eurosat/shots_16/vpt/vit_b16_v4_dv6_ep5-87e85894/seed1"],
  ["ivlp", {}, "runs/base2new/eurosat/shots_16/ivlp/vit_b16_c2_v2_dt12_dv12_ep5-c81e4dd0/seed1"],
  ["ivlp", {"depth":3}, "runs/base2new/eurosat/shots_16/ivlp/vit_b16_c2_v2_dt12_dv12_ep5-757e8fcd/seed1"],
  ["maple", {}, "runs/base2new/eurosat/shots_16/maple/vit_b16_c2_d9_ep5-873eec3f/seed1"],
  ["maple", {"depth":3,"nCtx":4}, "runs/base2new/eurosat/shots_16/maple/vit_b16_c4_d3_ep5-18ccaf87/seed1"],
  ["mpl", {}, "runs/base2new/eurosat/shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5-6af3d842/seed1"],
  ["mpl", {"nAdd":3,"nRm":2}, "runs/base2new/eurosat/shots_16/mpl/vit_b16_c1_add3_rm2_d9_ep5-0f073dc7/seed1"],
  ["mpl", {"schedule":"1:add3,rm1;2-4:add3,rm2"}, "runs/base2new/eurosat/shots_16/mpl/vit_b16_c1_add2_rm1_d9_sched_ep5-ed8bed83/seed1"],
  ["mpl", {"ctxInit":"a photo of a","depth":12}, "runs/base2new/eurosat/shots_16/mpl/vit_b16_c1_add2_rm1_d12_ep5-9ad043e7/seed1"],
  ["promptsrc", {}, "runs/base2new/eurosat/shots_16/promptsrc/vit_b16_c4_v4_dt9_dv9_ep20-38e70eea/seed1"],
  ["promptsrc", {"gpaMean":6,"gpaStd":10,"depthText":3,"depthVision":3}, "runs/base2new/eurosat/shots_16/promptsrc/vit_b16_c4_v4_dt3_dv3_ep20-37ad79b5/seed1"],
];

describe('run identity', () => {
  it('every method keeps the run folders earlier versions gave its configurations', () => {
    for (const [method, methodOptions, dir] of FROZEN) {
      const c = buildRunConfig({ protocol: 'base2new', dataset: 'eurosat', root: '/data', method, methodOptions, seed: 1, shots: 16, backbone: 'ViT-B/16', precision: 'fp32' });
      assert.equal(runDirOf('runs', c), dir, `${method} ${JSON.stringify(methodOptions)}`);
    }
  });
});
