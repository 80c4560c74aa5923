/** The dataset registry: one definition per CLI name. */
import { UserError } from '../../util/errors.js';
import type { DatasetDef } from './common.js';
import { caltech101, dtd, eurosat, fgvcAircraft, food101, oxfordFlowers, oxfordPets, stanfordCars, sun397, ucf101 } from './coop.js';
import { imagefolder, jsonlist } from './custom.js';
import { imagenet, imagenetA, imagenetR, imagenetSketch, imagenetV2 } from './imagenet.js';
import { synthshapes } from './synth.js';

export type { DatasetDef } from './common.js';

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
function normalize(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const byKey = new Map<string, DatasetDef>();
for (const d of DATASETS) {
  for (const key of [d.name, d.displayName, ...d.aliases]) byKey.set(normalize(key), d);
}

/**
 * The dataset called `name`: a canonical CLI name, Dassl's DATASET.NAME (EuroSAT, OxfordPets,
 * DescribableTextures, ...) or a common alias (Flowers102, pets, ImageNet-A), in any case/punctuation.
 */
export function getDataset(name: string): DatasetDef {
  const d = byKey.get(normalize(name));
  if (!d) throw new UserError(`unknown dataset "${name}"; valid names: ${DATASET_NAMES.join(', ')}`);
  return d;
}
