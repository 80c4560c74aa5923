/** The CLIP family: OpenAI-style CLIP ViTs (OpenAI .pt, open_clip, Hugging Face CLIPModel files). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../../util/errors.js';
import type { BackboneFamily } from '../family.js';
import { knownArchitectures, parameterCount } from './config.js';
import { ClipModel } from './model.js';
import { makePreprocess } from './preprocess.js';
import { ClipTokenizer } from './tokenizer.js';
import { loadClipWeights, readClipConfig } from './weights.js';

/**
 * A Hugging Face CLIPModel folder whose config.json says its MLP activation is not QuickGELU (open_clip's
 * LAION and DataComp models, converted): ClipModel computes OpenAI's QuickGELU, so such a model would run
 * with the wrong activation. Refused by name.
 */
function checkActivation(file: string): void {
  const cfgFile = path.join(path.dirname(file), 'config.json');
  if (!fs.existsSync(cfgFile)) return;
  let cfg: { model_type?: string; text_config?: { hidden_act?: string }; vision_config?: { hidden_act?: string } };
  try {
    cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch {
    return;
  }
  if (cfg.model_type !== 'clip') return;
  for (const [tower, c] of [['text', cfg.text_config], ['vision', cfg.vision_config]] as const) {
    const act = c?.hidden_act ?? 'quick_gelu';
    if (act !== 'quick_gelu') {
      throw fileError(cfgFile, `the ${tower} tower's activation is ${act}; only OpenAI's QuickGELU CLIPs are supported (open_clip's LAION/DataComp models use GELU)`);
    }
  }
}

export const clipFamily: BackboneFamily = {
  name: 'clip',
  title: 'CLIP ViT (OpenAI, open_clip QuickGELU, Hugging Face CLIPModel)',
  traits: { classToken: true, textStartToken: true, causalText: true, probabilities: 'softmax' },
  // the fallback family: any weights file that no other family claims is read as a CLIP (with CLIP's messages)
  recognises: () => true,
  readArchitecture: (file) => readClipConfig(file),
  tokenizer: () => ClipTokenizer.default(),
  load(file, options) {
    checkActivation(file);
    const loaded = loadClipWeights(file);
    const model = ClipModel.fromTensors(loaded.config, loaded.tensors, options);
    return { model, tokenizer: ClipTokenizer.default(), preprocess: makePreprocess(model.imageSize) };
  },
  knownArchitectures,
  parameterCount,
};
