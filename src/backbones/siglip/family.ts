/** The SigLIP family: Hugging Face SiglipModel folders (google/siglip-*), detected from config.json. */
import * as path from 'node:path';
import { fileError } from '../../util/errors.js';
import type { BackboneFamily } from '../family.js';
import { makePreprocess } from '../clip/preprocess.js';
import { SiglipModel } from './model.js';
import { SiglipTokenizer } from './tokenizer.js';
import { configModelType, readSiglipFolder, siglipParameterCount, type SiglipArchitecture } from './weights.js';

function siglip(v: { width: number; layers: number; heads: number; mlp: number; patch: number; image: number }): SiglipArchitecture {
  return {
    family: 'siglip',
    vision: { width: v.width, layers: v.layers, heads: v.heads, patch_size: v.patch, image_size: v.image, mlp_width: v.mlp },
    text: { width: v.width, layers: v.layers, heads: v.heads, context_length: 64, vocab_size: 32000, mlp_width: v.mlp },
    embed_dim: v.width,
    layer_norm_eps: 1e-6,
    hidden_act: 'gelu_pytorch_tanh',
  };
}

/** The released SigLIPs of the catalogue (transformers' SiglipConfig defaults = the base model). */
export const siglipArchitectures: Readonly<Record<string, SiglipArchitecture>> = {
  'siglip-base-patch16-224': siglip({ width: 768, layers: 12, heads: 12, mlp: 3072, patch: 16, image: 224 }),
  'siglip-so400m-patch14-384': siglip({ width: 1152, layers: 27, heads: 16, mlp: 4304, patch: 14, image: 384 }),
};

export const siglipFamily: BackboneFamily = {
  name: 'siglip',
  title: 'SigLIP (Hugging Face SiglipModel folders: config.json, model.safetensors, spiece.model, preprocessor_config.json)',
  traits: { classToken: false, textStartToken: false, causalText: false, probabilities: 'sigmoid' },
  recognises(file) {
    const type = configModelType(path.dirname(file));
    if (type === 'siglip2') throw fileError(path.join(path.dirname(file), 'config.json'), 'is a SigLIP 2 model (model_type siglip2): not supported yet (its Gemma tokenizer and NaFlex inputs differ); SigLIP models (model_type siglip) are');
    return type === 'siglip';
  },
  readArchitecture: (file) => readSiglipFolder(path.dirname(file)).config,
  tokenizer(file) {
    const folder = readSiglipFolder(path.dirname(file));
    return new SiglipTokenizer(folder.tokenizer.file, { contextLength: folder.config.text.context_length, padToken: folder.tokenizer.padToken, eosToken: folder.tokenizer.eosToken });
  },
  load(file, options) {
    const folder = readSiglipFolder(path.dirname(file), true);
    const model = SiglipModel.fromTensors(folder.config, folder.tensors, folder.pixels, options);
    try {
      const tokenizer = new SiglipTokenizer(folder.tokenizer.file, { contextLength: folder.config.text.context_length, padToken: folder.tokenizer.padToken, eosToken: folder.tokenizer.eosToken });
      if (tokenizer.vocabSize > folder.config.text.vocab_size) {
        throw fileError(folder.tokenizer.file, `has ${tokenizer.vocabSize} pieces but the model embeds ${folder.config.text.vocab_size} tokens: the tokenizer is another model's`);
      }
      model.tokenizer = tokenizer;
      return { model, tokenizer, preprocess: makePreprocess(model.imageSize, folder.pixels) };
    } catch (e) {
      model.dispose();
      throw e;
    }
  },
  knownArchitectures: siglipArchitectures,
  parameterCount: (a) => siglipParameterCount(a as SiglipArchitecture),
};
