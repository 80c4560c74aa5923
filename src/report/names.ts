/**
 * Display names and the paper's ordering for methods and datasets. Result files carry the CLI names
 * (`coop`, `oxford_pets`, ...); tables and figures show the names and the column order the papers use, so a
 * generated table can be laid beside the published one. Unknown names are shown as they are, after the
 * known ones, alphabetically.
 */
import { DATASETS, findDatasetDef } from '../data/datasets/index.js';
import { methodDefs } from '../prompting/methods/index.js';

/** Methods in the order of the papers' tables (zero-shot CLIP first, the proposed method last): the registry's display facts. */
const METHODS: Array<[key: string, display: string, colour: string]> = [...methodDefs()]
  .sort((a, b) => a.display.column - b.display.column)
  .map((d) => [d.name, d.display.name, d.display.colour]);

/**
 * The benchmarks (datasets with a report name) in the order of MaPLe/PromptSRC Table 1 (ImageNet first), then
 * the domain-generalisation targets: the dataset registry's order. Any spelling the registry accepts (CLI
 * name, folder name, Dassl class name) finds them.
 */
const BENCHMARKS = DATASETS.filter((d) => d.reportName);
const datasetIndex = (name: string): number | undefined => {
  const d = findDatasetDef(name);
  const i = d ? BENCHMARKS.indexOf(d) : -1;
  return i < 0 ? undefined : i;
};
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
  const i = datasetIndex(name);
  return i === undefined ? name : BENCHMARKS[i].reportName!;
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
    const d = rank(datasetIndex(a)) - rank(datasetIndex(b));
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
}

/** True when two spellings name the same dataset (e.g. an xd run's `dataset` and its accuracy keys). */
export function sameDataset(a: string, b: string): boolean {
  if (a === b) return true;
  const ia = datasetIndex(a);
  return ia !== undefined && ia === datasetIndex(b);
}
