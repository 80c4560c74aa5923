/** What a backbone family is (one folder under src/backbones, registered in ./index.ts). */
import type { ClipLoadOptions } from './clip/model.js';
import type { Preprocess } from './clip/preprocess.js';
import type { BackboneArchitecture, BackboneModel, BackboneTraits, FamilyName, TextTokenizer } from './model.js';

export interface BackboneFamily {
  name: FamilyName;
  /** one line for `mpl models` */
  title: string;
  traits: BackboneTraits;
  /**
   * Whether a weights file (resolved from --weights or --model; a folder's weights file) is this family's, from
   * what is beside it (config.json's model_type) or in it -- never from a folder name. May throw a one-line
   * error for a relative it cannot run (SigLIP 2).
   */
  recognises(file: string): boolean;
  /** the architecture only (fast: headers and config files) */
  readArchitecture(file: string): BackboneArchitecture;
  /** the tokenizer of a weights file's model, without loading the weights (`mpl plan --weights`) */
  tokenizer(file: string): TextTokenizer;
  /** model, tokenizer and single-image preprocess */
  load(file: string, options: ClipLoadOptions): { model: BackboneModel; tokenizer: TextTokenizer; preprocess: Preprocess };
  /** released architectures by name (`--arch`, `mpl plan`, random models for benchmarks) */
  knownArchitectures: Readonly<Record<string, BackboneArchitecture>>;
  /** parameters of an architecture (every tensor) */
  parameterCount(arch: BackboneArchitecture): number;
}
