/**
 * Display names and the paper's ordering for methods and datasets. Result files carry the CLI names
 * (`coop`, `oxford_pets`, ...); tables and figures show the names and the column order the papers use, so a
 * generated table can be laid beside the published one. Unknown names are shown as they are, after the
 * known ones, alphabetically.
 */

/** Methods in the order of the papers' tables (zero-shot CLIP first, the proposed method last). */
const METHODS: Array<[key: string, display: string, colour: string]> = [
  ['zeroshot', 'CLIP', '#999999'],
  ['coop', 'CoOp', '#0072B2'],
  ['cocoop', 'CoCoOp', '#56B4E9'],
  ['vpt', 'VPT', '#7F3C8D'],
  ['ivlp', 'IVLP', '#CC79A7'],
  ['maple', 'MaPLe', '#009E73'],
  ['promptsrc', 'PromptSRC', '#E69F00'],
  ['mpl', 'MPL', '#D55E00'],
];

/**
 * Datasets in the order of MaPLe/PromptSRC Table 1 (ImageNet first), then the domain-generalisation targets.
 * Each entry lists the spellings seen in the wild (CLI name, folder name, Dassl class name); they are compared
 * after lower-casing and removing everything but letters and digits.
 */
const DATASETS: Array<[display: string, spellings: string[]]> = [
  ['ImageNet', ['imagenet']],
  ['Caltech101', ['caltech101', 'caltech-101']],
  ['OxfordPets', ['oxford_pets', 'oxfordpets', 'pets']],
  ['StanfordCars', ['stanford_cars', 'stanfordcars', 'cars']],
  ['Flowers102', ['oxford_flowers', 'oxfordflowers', 'flowers102', 'flowers']],
  ['Food101', ['food101', 'food-101', 'food']],
  ['FGVCAircraft', ['fgvc_aircraft', 'fgvcaircraft', 'aircraft']],
  ['SUN397', ['sun397', 'sun']],
  ['DTD', ['dtd', 'describabletextures']],
  ['EuroSAT', ['eurosat']],
  ['UCF101', ['ucf101', 'ucf']],
  ['ImageNetV2', ['imagenetv2', 'imagenet_v2']],
  ['ImageNet-Sketch', ['imagenet_sketch', 'imagenetsketch', 'imagenet-sketch']],
  ['ImageNet-A', ['imagenet_a', 'imageneta', 'imagenet-adversarial']],
  ['ImageNet-R', ['imagenet_r', 'imagenetr', 'imagenet-rendition']],
  ['SynthShapes', ['synthshapes', 'synth']],
];

const norm = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

const datasetIndex = new Map<string, number>();
DATASETS.forEach(([, spellings], i) => spellings.forEach((s) => datasetIndex.set(norm(s), i)));
const methodIndex = new Map<string, number>(METHODS.map(([k], i) => [k, i]));

/**
 * The method part of a report key. Keys are the method name, or `method@variant` when one protocol holds
 * runs of the same method with different shots or backbones (see collect.ts).
 */
function splitMethodKey(key: string): [string, string | undefined] {
  const at = key.indexOf('@');
  return at < 0 ? [key, undefined] : [key.slice(0, at), key.slice(at + 1)];
}

export function methodDisplayName(key: string): string {
  const [method, variant] = splitMethodKey(key);
  const i = methodIndex.get(method.toLowerCase());
  const name = i === undefined ? method : METHODS[i][1];
  // "coop@4shot" → "CoOp (4-shot)"
  return variant ? `${name} (${variant.replace(/\b(\d+)shot\b/g, '$1-shot')})` : name;
}

/**
 * The colour a known method always gets (Okabe-Ito based), so MaPLe is the same colour in every figure;
 * undefined for unknown methods. Variants of one method share it; plots.ts resolves such clashes.
 */
export function methodColour(key: string): string | undefined {
  const i = methodIndex.get(splitMethodKey(key)[0].toLowerCase());
  return i === undefined ? undefined : METHODS[i][2];
}

export function datasetDisplayName(name: string): string {
  const i = datasetIndex.get(norm(name));
  return i === undefined ? name : DATASETS[i][0];
}

function rank(index: number | undefined): number {
  return index === undefined ? Number.MAX_SAFE_INTEGER : index;
}

/** Sorts method keys in the papers' order; variants of one method stay together, in natural order. */
export function sortMethods(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => {
    const [ma, va] = splitMethodKey(a);
    const [mb, vb] = splitMethodKey(b);
    const d = rank(methodIndex.get(ma.toLowerCase())) - rank(methodIndex.get(mb.toLowerCase()));
    if (d !== 0) return d;
    if (ma !== mb) return ma < mb ? -1 : 1;
    return (va ?? '').localeCompare(vb ?? '', 'en', { numeric: true });
  });
}

/** Sorts dataset names in the papers' column order. */
export function sortDatasets(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => {
    const d = rank(datasetIndex.get(norm(a))) - rank(datasetIndex.get(norm(b)));
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
}

/** True when two spellings name the same dataset (e.g. an xd run's `dataset` and its accuracy keys). */
export function sameDataset(a: string, b: string): boolean {
  if (a === b) return true;
  const ia = datasetIndex.get(norm(a));
  return ia !== undefined && ia === datasetIndex.get(norm(b));
}
