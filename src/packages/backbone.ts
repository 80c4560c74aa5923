/**
 * Which backbone learned prompts belong to: its name, its architecture and the sha256 of its weights file.
 * Prompts learned on one CLIP are meaningless on another, even one of the same shape (another fine-tune): the
 * tensors load and the answers are wrong without a word. A package (or a run's prompts.json) that records a
 * backbone is therefore refused, before any image is read, by a model whose architecture or weights differ.
 */
import type { BackboneArchitecture, BackboneModel } from '../backbones/model.js';
import { weightsSha256 } from '../net/digest.js';
import { configDiff, describeDiff } from '../util/config.js';
import { UserError } from '../util/errors.js';

export interface BackboneIdentity {
  /** as the user named it: a model name (ViT-B/16) or the weights file's base name */
  name: string;
  /** sha256 of the weights file (hex) */
  sha256: string;
  architecture: BackboneArchitecture;
}

/** A loaded model as loadClip returns it: the model, its name, and the weights file it was loaded from. */
export interface LoadedBackbone {
  model: BackboneModel;
  backbone: string;
  file: string;
}

/** The identity of a loaded model: the sha256 of the file it was read from (hashed once per process). */
export async function backboneOf(loaded: LoadedBackbone): Promise<BackboneIdentity> {
  return { name: loaded.backbone, sha256: await weightsSha256(loaded.file), architecture: loaded.model.arch };
}

/** What prompts say they need; a field they do not record (older prompts.json) is not checked. */
export interface BackboneRequirement {
  name?: string;
  sha256?: string;
  architecture?: BackboneArchitecture;
}

const short = (sha: string) => sha.slice(0, 12);

/**
 * Refuses a model whose architecture or weights are not the ones `source` (a package or a prompts file) was
 * trained on: one line naming both backbones and what to do.
 */
export async function checkBackbone(required: BackboneRequirement, loaded: LoadedBackbone, source: string): Promise<void> {
  if (!required.sha256 && !required.architecture) return;
  const actual = await backboneOf(loaded);
  const wanted = `${required.name ?? 'another backbone'}${required.sha256 ? ` (weights sha256 ${short(required.sha256)}…)` : ''}`;
  const given = `${actual.name} (weights sha256 ${short(actual.sha256)}…)`;
  if (required.architecture) {
    const diff = configDiff(required.architecture, actual.architecture);
    if (diff.length) {
      throw new UserError(`${source}: these prompts were trained on ${wanted}, not on ${given}: another architecture (${describeDiff(diff, 3)}); load them with the backbone they were trained on`);
    }
  }
  if (required.sha256 && required.sha256 !== actual.sha256) {
    throw new UserError(`${source}: these prompts were trained on ${wanted}, not on ${given}: same architecture, other weights; load them with the weights they were trained on`);
  }
}
