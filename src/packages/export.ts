/**
 * A finished run as a package (`mpl export RUN --package DIR`): its prompts.safetensors as they are, its
 * prompts.json (method, options, classes, backbone and the sha256 of its weights, recorded at training) and its
 * result.json (protocol, shots, seed, schedule, accuracy).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunResult } from '../eval/results.js';
import { PROMPTS_FILE, loadPrompts } from '../prompting/checkpoint.js';
import { UserError, fileError } from '../util/errors.js';
import type { BackboneIdentity } from './backbone.js';
import { accuracyOf, packageConfig, writePackage, type PackageConfig } from './package.js';

export interface ExportPackageOptions {
  /** SPDX license id of the prompts (default mit) */
  license?: string;
  /** replace a package already at the destination */
  force?: boolean;
  /**
   * The backbone, for runs whose prompts.json predates the recorded sha256: the weights they were trained on
   * (the CLI's --weights). When prompts.json records one, a different one given here is refused.
   */
  backbone?: BackboneIdentity;
}

/** Writes the package of a run folder (or of its prompts.safetensors) into `out`; returns its config. */
export function exportRunPackage(target: string, out: string, options: ExportPackageOptions = {}): PackageConfig {
  const file = fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, PROMPTS_FILE) : target;
  const prompts = loadPrompts(file);
  const c = prompts.config;
  if (!c) throw new UserError(`${file}: no prompts.json beside it; a package needs the method and classes it records`);
  const resultFile = path.join(path.dirname(file), 'result.json');
  if (!fs.existsSync(resultFile)) throw new UserError(`${resultFile}: missing; package a finished run (its card states the accuracy the run measured)`);
  let result: RunResult;
  try {
    result = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as RunResult;
  } catch (e) {
    throw fileError(resultFile, `unreadable (${(e as Error).message})`);
  }
  const backbone = backboneOfRun(file, c, options.backbone);
  const cfg = result.config as { epochs?: number; lr?: number; batch_size?: number };
  const config = packageConfig({
    method: c.method,
    options: c.options,
    classnames: c.classnames,
    precision: c.precision ?? result.precision ?? 'fp32',
    dataset: c.dataset ?? result.dataset ?? null,
    backbone,
    trainableParameters: c.trainable_parameters,
    training: { protocol: result.protocol, shots: result.shots, seed: result.seed, epochs: cfg.epochs ?? 0, lr: cfg.lr ?? 0, batch_size: cfg.batch_size ?? 0 },
    accuracy: accuracyOf(result),
    source: `run ${path.basename(path.dirname(path.dirname(file)))}/${path.basename(path.dirname(file))}`,
    license: options.license,
  });
  writePackage(out, config, prompts.tensors, { force: options.force });
  return config;
}

function backboneOfRun(file: string, c: NonNullable<ReturnType<typeof loadPrompts>['config']>, given?: BackboneIdentity): BackboneIdentity {
  if (c.backbone_sha256 && c.backbone_architecture) {
    const recorded = { name: c.backbone ?? 'unknown', sha256: c.backbone_sha256, architecture: c.backbone_architecture };
    if (given && given.sha256 !== recorded.sha256) {
      throw new UserError(`${file}: trained on ${recorded.name} (weights sha256 ${recorded.sha256.slice(0, 12)}…), not on the given ${given.name} (sha256 ${given.sha256.slice(0, 12)}…); leave out --weights, the run records its backbone`);
    }
    return recorded;
  }
  if (!given) throw new UserError(`${file}: its prompts.json does not record the backbone's sha256 (a run of an earlier version); give the weights it was trained on with --weights FILE`);
  return { ...given, name: c.backbone ?? given.name };
}
