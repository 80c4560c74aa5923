/**
 * The dataset registry: one DatasetDef per dataset (its names, reader, template, download spec and report
 * name), listed once below. Adding a dataset = its definition (a file in this folder) and one line here.
 */
import { UserError } from '../../util/errors.js';
import { didYouMean } from '../../util/suggest.js';
import type { DatasetDef } from './common.js';
import { caltech101, dtd, eurosat, fgvcAircraft, food101, oxfordFlowers, oxfordPets, stanfordCars, sun397, ucf101 } from './coop.js';
import { imagefolder, jsonlist } from './custom.js';
import { imagenet, imagenetA, imagenetR, imagenetSketch, imagenetV2 } from './imagenet.js';
import { synthshapes } from './synth.js';

export type { DatasetDef } from './common.js';
export type { DatasetDownload } from './sources.js';

/** In the order of the CLI help: the 11 benchmarks, the 4 ImageNet variants, the generated one, the custom formats. */
export const DATASETS: readonly DatasetDef[] = [
  imagenet,
  caltech101,
  oxfordPets,
  stanfordCars,
  oxfordFlowers,
  food101,
  fgvcAircraft,
  sun397,
  dtd,
  eurosat,
  ucf101,
  imagenetV2,
  imagenetSketch,
  imagenetA,
  imagenetR,
  synthshapes,
  imagefolder,
  jsonlist,
];

export const DATASET_NAMES: readonly string[] = DATASETS.map((d) => d.name);

/** Lower-case, letters and digits only: "EuroSAT", "euro-sat" and "euro_sat" all become "eurosat". */
export function normalizeDatasetName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const byKey = new Map<string, DatasetDef>();
for (const d of DATASETS) {
  for (const key of [d.name, d.displayName, ...(d.dirName ? [d.dirName] : []), ...d.aliases]) {
    const k = normalizeDatasetName(key);
    const other = byKey.get(k);
    if (other && other !== d) throw new Error(`datasets ${other.name} and ${d.name} both answer to "${key}"`);
    byKey.set(k, d);
  }
}

/**
 * The dataset called `name`: a canonical CLI name, Dassl's DATASET.NAME (EuroSAT, OxfordPets,
 * DescribableTextures, ...) or a common alias (Flowers102, pets, ImageNet-A), in any case/punctuation.
 */
export function getDataset(name: string): DatasetDef {
  const d = byKey.get(normalizeDatasetName(name));
  if (!d) {
    const hint = didYouMean(name, DATASET_NAMES);
    throw new UserError(`unknown dataset "${name}"${hint ? ` (${hint})` : ''}; valid names: ${DATASET_NAMES.join(', ')}`);
  }
  return d;
}

/** The dataset called `name`, or undefined (reports meet names of datasets this version does not know). */
export function findDatasetDef(name: string): DatasetDef | undefined {
  return byKey.get(normalizeDatasetName(name));
}
