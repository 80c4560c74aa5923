import * as fs from 'node:fs';
import * as path from 'node:path';
import { harmonicMean, type RunResult } from '../../src/eval/results.js';

/** Shared builders for the report tests: result files on disk, a CSV reader and an XML checker. */

export function makeResult(fields: Partial<RunResult> & Pick<RunResult, 'protocol' | 'method' | 'dataset' | 'seed'>): RunResult {
  const r: RunResult = {
    schema: 'mpl-result/1',
    shots: 16,
    backbone: 'ViT-B/16',
    train_seconds: 100,
    eval_seconds: 10,
    config: {},
    finished_at: '2025-01-01T00:00:00.000Z',
    ...fields,
  };
  if (r.protocol === 'base2new' && r.hm === undefined && r.base !== undefined && r.new !== undefined) {
    r.hm = harmonicMean(r.base, r.new);
  }
  return r;
}

/** Writes a result where a run would: <out>/<protocol>/<dataset>/<method>/seed<seed>/result.json. */
export function writeResult(out: string, r: RunResult): string {
  const file = path.join(out, r.protocol, r.dataset, r.method, `seed${r.seed}`, 'result.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(r, null, 2));
  return file;
}

/**
 * The base-to-new inputs of the tests: 2 methods × 2 datasets × 2 seeds. Values are chosen so that the
 * HM of the means differs from the mean of the HMs, and the average HM differs from the mean of the HMs.
 */
export const B2N: Record<string, Record<string, Array<{ seed: number; base: number; new: number; t: number }>>> = {
  coop: {
    caltech101: [
      { seed: 1, base: 98.0, new: 90.0, t: 300 },
      { seed: 2, base: 97.0, new: 88.0, t: 310 },
    ],
    eurosat: [
      { seed: 1, base: 92.25, new: 50.5, t: 200 },
      { seed: 2, base: 90.75, new: 60.25, t: 220 },
    ],
  },
  mpl: {
    caltech101: [
      { seed: 1, base: 97.5, new: 94.0, t: 120 },
      { seed: 2, base: 98.5, new: 95.0, t: 130 },
    ],
    eurosat: [
      { seed: 1, base: 95.0, new: 80.0, t: 90 },
      { seed: 2, base: 94.0, new: 70.0, t: 110 },
    ],
  },
};

/** Cross-dataset inputs: trained on imagenet, evaluated on imagenet + 3 targets, 2 methods × 2 seeds. */
export const XD: Record<string, Array<{ seed: number; accuracy: Record<string, number>; t: number }>> = {
  coop: [
    { seed: 1, accuracy: { imagenet: 71.5, caltech101: 89.5, dtd: 37.0, eurosat: 41.0 }, t: 1000 },
    { seed: 2, accuracy: { imagenet: 71.0, caltech101: 89.0, dtd: 38.0, eurosat: 43.0 }, t: 1100 },
  ],
  mpl: [
    { seed: 1, accuracy: { imagenet: 70.75, caltech101: 94.0, dtd: 45.5, eurosat: 49.0 }, t: 400 },
    { seed: 2, accuracy: { imagenet: 71.25, caltech101: 94.25, dtd: 45.25, eurosat: 50.5 }, t: 440 },
  ],
};

/** Writes B2N and XD under `out`; returns the number of files. */
export function writeFixtureResults(out: string): number {
  let n = 0;
  for (const [method, byDataset] of Object.entries(B2N)) {
    for (const [dataset, seeds] of Object.entries(byDataset)) {
      for (const s of seeds) {
        writeResult(out, makeResult({ protocol: 'base2new', method, dataset, seed: s.seed, base: s.base, new: s.new, train_seconds: s.t }));
        n++;
      }
    }
  }
  for (const [method, seeds] of Object.entries(XD)) {
    for (const s of seeds) {
      writeResult(out, makeResult({ protocol: 'xd', method, dataset: 'imagenet', seed: s.seed, accuracy: s.accuracy, train_seconds: s.t }));
      n++;
    }
  }
  return n;
}

export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
/** np.std: divides by n. */
export const popStd = (xs: number[]): number => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) * (x - m), 0) / xs.length);
};

/** A small RFC 4180 reader (quoted fields, doubled quotes), enough to check the CSV output. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/**
 * A minimal XML well-formedness checker and parser (no DTDs, no CDATA, which our SVG never uses): one root
 * element, every tag closed in order, attributes quoted and unique, `<` and `&` in text and attributes only
 * as markup or the predefined/numeric entities. Throws on the first violation.
 */
export function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`XML not well-formed at ${i}: ${what} near ${JSON.stringify(src.slice(i, i + 40))}`);
  };
  const checkEntities = (s: string): string => {
    return s.replace(/&([^;]*);?/g, (m, name: string) => {
      if (!m.endsWith(';')) fail(`bare '&' in ${JSON.stringify(s)}`);
      const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
      if (name in named) return named[name];
      if (/^#[0-9]+$/.test(name)) return String.fromCodePoint(Number(name.slice(1)));
      if (/^#x[0-9a-fA-F]+$/.test(name)) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
      return fail(`unknown entity &${name};`);
    });
  };
  const skipMisc = () => {
    for (;;) {
      while (i < src.length && /\s/.test(src[i])) i++;
      if (src.startsWith('<?', i)) {
        const e = src.indexOf('?>', i);
        if (e < 0) fail('unterminated processing instruction');
        i = e + 2;
      } else if (src.startsWith('<!--', i)) {
        const e = src.indexOf('-->', i);
        if (e < 0) fail('unterminated comment');
        i = e + 3;
      } else return;
    }
  };
  const nameRe = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
  const readName = (): string => {
    nameRe.lastIndex = i;
    const m = nameRe.exec(src);
    if (!m) return fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  const element = (): XmlElement => {
    if (src[i] !== '<') fail("expected '<'");
    i++;
    const el: XmlElement = { name: readName(), attrs: {}, children: [], text: '' };
    for (;;) {
      const ws = i;
      while (/\s/.test(src[i] ?? '')) i++;
      if (src.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      if (i === ws) fail('expected whitespace before an attribute');
      const an = readName();
      if (an in el.attrs) fail(`duplicate attribute ${an}`);
      if (src[i] !== '=') fail(`attribute ${an} without '='`);
      i++;
      const q = src[i];
      if (q !== '"' && q !== "'") fail(`attribute ${an} not quoted`);
      const e = src.indexOf(q, i + 1);
      if (e < 0) fail('unterminated attribute');
      const raw = src.slice(i + 1, e);
      if (raw.includes('<')) fail(`'<' in attribute ${an}`);
      el.attrs[an] = checkEntities(raw);
      i = e + 1;
    }
    for (;;) {
      const lt = src.indexOf('<', i);
      if (lt < 0) fail(`element <${el.name}> not closed`);
      el.text += checkEntities(src.slice(i, lt));
      i = lt;
      if (src.startsWith('</', i)) {
        i += 2;
        const n = readName();
        if (n !== el.name) fail(`</${n}> closes <${el.name}>`);
        while (/\s/.test(src[i] ?? '')) i++;
        if (src[i] !== '>') fail("expected '>'");
        i++;
        return el;
      }
      if (src.startsWith('<!--', i)) {
        const e = src.indexOf('-->', i);
        if (e < 0) fail('unterminated comment');
        i = e + 3;
        continue;
      }
      el.children.push(element());
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== src.length) fail('content after the root element');
  return root;
}

/** Every text content in the tree (the labels a reader sees), in document order. */
export function xmlTexts(el: XmlElement): string[] {
  const out: string[] = [];
  const walk = (e: XmlElement) => {
    if (e.name === 'text' && e.text.trim()) out.push(e.text.trim());
    e.children.forEach(walk);
  };
  walk(el);
  return out;
}

export function countElements(el: XmlElement, name: string): number {
  return (el.name === name ? 1 : 0) + el.children.reduce((a, c) => a + countElements(c, name), 0);
}
