/**
 * Tip-Adapter's own files, as its main.py writes them into cfg['cache_dir'] (./caches/<dataset>/) and reads
 * them back with `load_cache: True`: keys_<K>shots.pt = cache_keys [E, N], values_<K>shots.pt = the one-hot
 * cache_values [N, C] (`.half()`), and for Tip-Adapter-F best_F_<K>shots.pt = the trained adapter's weight
 * [N, E], an nn.Parameter as `torch.save(adapter.weight, ...)` saves it. In float16, the dtype of the official
 * (GPU) run's features. α and β are not files there (search_hp finds them again): they are in prompts.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { float32ToFloat16Bits, rawTensor, toFloat32, type RawTensor } from '../io/tensor.js';
import { PyParameter, PyTensor, torchSave } from '../io/torchsave.js';
import { CACHE_KEYS, CACHE_VALUES } from '../prompting/learner.js';
import { UserError } from '../util/errors.js';

const half = (t: RawTensor): RawTensor => rawTensor('float16', t.shape, float32ToFloat16Bits(toFloat32(t)));

/** Writes the cache files of a Tip-Adapter(-F) run for `shots` shots into `dir`; returns their paths. */
export function writeTipAdapterFiles(dir: string, tensors: Map<string, RawTensor>, shots: number, trainedKeys?: string): string[] {
  const get = (k: string): RawTensor => {
    const t = tensors.get(k);
    if (!t) throw new UserError(`the prompts hold no ${k}: not a Tip-Adapter cache`);
    return t;
  };
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const save = (name: string, value: PyTensor | PyParameter) => {
    const file = path.join(dir, name);
    torchSave(file, value);
    files.push(file);
  };
  save(`keys_${shots}shots.pt`, new PyTensor(half(get(CACHE_KEYS))));
  save(`values_${shots}shots.pt`, new PyTensor(half(get(CACHE_VALUES))));
  if (trainedKeys) save(`best_F_${shots}shots.pt`, new PyParameter(half(get(trainedKeys))));
  return files;
}
