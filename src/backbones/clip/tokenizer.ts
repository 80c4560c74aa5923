/**
 * CLIP's tokenizer: byte-level BPE exactly as OpenAI's `clip/simple_tokenizer.py` and `clip.tokenize`.
 *
 * Pipeline (same order as the original): clean (ftfy.fix_text — NOT applied, see below; html.unescape twice;
 * strip), collapse whitespace, lower-case; split with CLIP's regex; map each piece's UTF-8 bytes to printable
 * characters (bytes_to_unicode); apply the BPE merges; look up ids. `tokenize` adds <|startoftext|> (49406) and
 * <|endoftext|> (49407) and zero-pads to the context length (77).
 *
 * ftfy.fix_text is not applied: ftfy (mojibake repair, Unicode normalisation of a few characters) has no JS
 * port. It is the identity on ordinary text — correctly encoded prompts and class names — which is all CLIP's
 * prompt templates ever contain. Text with mojibake (e.g. "cafÃ©") may tokenize differently from Python.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileError, UserError } from '../../util/errors.js';

export const SOT_TOKEN = 49406;
export const EOT_TOKEN = 49407;
export const DEFAULT_CONTEXT_LENGTH = 77;

/** assets/ at the package root: dist/src/backbones/clip/tokenizer.js -> ../../../../assets (also src/backbones/clip via ts-node). */
export function assetsDir(): string {
  for (const up of ['../../../../assets', '../../../assets']) {
    const dir = path.resolve(__dirname, up);
    if (fs.existsSync(path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'))) return dir;
  }
  return path.resolve(__dirname, '../../../../assets');
}

export function defaultBpePath(): string {
  return path.join(assetsDir(), 'bpe_simple_vocab_16e6.txt.gz');
}

// ---------------------------------------------------------------------------------------------------------
// Python compatibility pieces

/**
 * simple_tokenizer.bytes_to_unicode: every byte to a printable character, so BPE never sees whitespace or
 * control characters. Printable Latin-1 bytes map to themselves, the rest to 256+n in byte order.
 * Returns [byte -> char, the chars in the dict's insertion order (= the vocabulary's first 256 entries)].
 */
function bytesToUnicode(): [string[], string[]] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const byByte = new Array<string>(256);
  for (let i = 0; i < bs.length; i++) byByte[bs[i]!] = String.fromCharCode(cs[i]!);
  return [byByte, cs.map((c) => String.fromCharCode(c))];
}
const [BYTE_ENCODER, BYTE_VOCAB] = bytesToUnicode();

/** Characters Python's str.isspace() accepts (what str.strip() removes): JS \s minus U+FEFF plus \x1c-\x1f, \x85. */
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** whitespace_clean's `\s+` is the `regex` module's \s = \p{White_Space} (no \x1c-\x1f, unlike str.isspace). */
const WS_RUN = /\p{White_Space}+/gu;
const STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'gu');

/** Python's str.strip() with no arguments. */
export function pyStrip(s: string): string {
  return s.replace(STRIP, '');
}

let HTML5: Record<string, string> | null = null;
function html5(): Record<string, string> {
  // Python's html.entities.html5 (2231 names, with and without the trailing ';'), generated from CPython 3.11.
  return (HTML5 ??= JSON.parse(fs.readFileSync(path.join(assetsDir(), 'html5_entities.json'), 'utf8')) as Record<string, string>);
}

/** html._invalid_charrefs: numeric references the HTML5 spec remaps (Windows-1252 C1 block, NUL, CR). */
const INVALID_CHARREFS: Readonly<Record<number, string>> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e',
  0x85: '\u2026', 0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039',
  0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f', 0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019',
  0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122',
  0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};

/** html._invalid_codepoints: references to these become '' (control characters and non-characters). */
function invalidCodepoint(c: number): boolean {
  return (
    (c >= 0x1 && c <= 0x8) || c === 0xb || (c >= 0xe && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) ||
    (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) === 0xfffe
  );
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python's html.unescape: numeric and named character references, with HTML5's longest-prefix rule. */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  const table = html5();
  return s.replace(CHARREF, (_m, ref: string) => {
    if (ref[0] === '#') {
      const hex = ref[1] === 'x' || ref[1] === 'X';
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
      const big = BigInt(hex ? '0x' + digits : digits);
      const num = big > 0x10ffffn ? 0x110000 : Number(big);
      if (num in INVALID_CHARREFS) return INVALID_CHARREFS[num]!;
      if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
      if (invalidCodepoint(num)) return '';
      return String.fromCodePoint(num);
    }
    const hit = table[ref];
    if (hit !== undefined) return hit;
    // "find the longest matching name (as defined by the standard)": prefixes without ';' like "&ampx"
    const cps = Array.from(ref);
    for (let x = cps.length - 1; x > 1; x--) {
      const prefix = cps.slice(0, x).join('');
      const v = table[prefix];
      if (v !== undefined) return v + cps.slice(x).join('');
    }
    return '&' + ref;
  });
}

/**
 * CLIP's pre-tokenisation regex (simple_tokenizer.py, `regex` module, IGNORECASE). \s is written as
 * \p{White_Space} (the `regex` module's definition), which differs from JS \s on U+FEFF.
 */
const PAT = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/giu;

/** basic_clean + whitespace_clean + lower(), in the order simple_tokenizer.encode applies them. */
export function cleanText(text: string): string {
  const t = pyStrip(htmlUnescape(htmlUnescape(text)));
  return pyStrip(t.replace(WS_RUN, ' ')).toLowerCase();
}

// ---------------------------------------------------------------------------------------------------------

export interface TokenizeResult {
  /** Row-major [texts.length, contextLength] token ids, zero-padded. */
  ids: Int32Array;
  shape: [number, number];
  /**
   * Per row, the position CLIP pools the text feature from: `argmax(ids)` (the first <|endoftext|>, as the
   * official `text.argmax(dim=-1)`).
   */
  eotIndex: Int32Array;
}

export interface TokenizeOptions {
  contextLength?: number;
  /** Over-long texts: cut to the context length keeping <|endoftext|> last (true), or throw (false, default). */
  truncate?: boolean;
}

export class ClipTokenizer {
  readonly encoder = new Map<string, number>();
  readonly decoder: string[] = [];
  private readonly byteDecoder = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string>([
    ['<|startoftext|>', '<|startoftext|>'],
    ['<|endoftext|>', '<|endoftext|>'],
  ]);
  readonly vocabSize: number;

  /** Builds the tokenizer from OpenAI's merges file (bpe_simple_vocab_16e6.txt.gz, gzipped or plain). */
  constructor(bpePath: string = defaultBpePath()) {
    let text: string;
    try {
      const raw = fs.readFileSync(bpePath);
      text = (raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw).toString('utf8');
    } catch (e) {
      throw fileError(bpePath, `cannot read the BPE merges file: ${(e as Error).message}`);
    }
    // merges[1 : 49152-256-2+1]: skip the version line, keep 48,894 merges
    const lines = text.split('\n').slice(1, 49152 - 256 - 2 + 1);
    const merges = lines.map((l) => l.split(/\s+/).filter((x) => x.length > 0));
    const vocab = BYTE_VOCAB;
    const all = [...vocab, ...vocab.map((v) => v + '</w>')];
    for (const m of merges) all.push(m.join(''));
    all.push('<|startoftext|>', '<|endoftext|>');
    // dict(zip(vocab, range)) — a later duplicate overwrites an earlier one, as in Python
    all.forEach((tok, i) => this.encoder.set(tok, i));
    this.decoder = all;
    this.vocabSize = all.length;
    merges.forEach((m, i) => this.ranks.set(`${m[0]} ${m[1]}`, i));
    BYTE_ENCODER.forEach((ch, b) => this.byteDecoder.set(ch, b));
    if (this.encoder.get('<|endoftext|>') !== EOT_TOKEN) {
      throw fileError(bpePath, `unexpected vocabulary: <|endoftext|> is ${this.encoder.get('<|endoftext|>')}, expected ${EOT_TOKEN}`);
    }
  }

  private static shared: ClipTokenizer | null = null;
  /** The tokenizer over the shipped vocabulary, built once (~0.2 s). */
  static default(): ClipTokenizer {
    return (ClipTokenizer.shared ??= new ClipTokenizer());
  }

  /** simple_tokenizer.bpe: merge the lowest-ranked adjacent pair until none is in the merges table. */
  bpe(token: string): string {
    const cached = this.cache.get(token);
    if (cached !== undefined) return cached;
    // token is made of bytes_to_unicode characters (all in the BMP), so UTF-16 indexing is per character
    let word: string[] = [...token.slice(0, -1)];
    word.push(token.slice(-1) + '</w>');
    if (word.length < 2) {
      const out = token + '</w>';
      this.cache.set(token, out);
      return out;
    }
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      // merge every occurrence of (first, second), left to right, as the Python loop does
      const merged: string[] = [];
      let i = 0;
      while (i < word.length) {
        if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]!);
          i += 1;
        }
      }
      word = merged;
      if (word.length === 1) break;
    }
    const out = word.join(' ');
    this.cache.set(token, out);
    return out;
  }

  /** simple_tokenizer.encode: BPE ids without start/end tokens. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const clean = cleanText(text);
    for (const m of clean.matchAll(PAT)) {
      let piece = '';
      for (const b of Buffer.from(m[0], 'utf8')) piece += BYTE_ENCODER[b]!;
      for (const t of this.bpe(piece).split(' ')) {
        const id = this.encoder.get(t);
        if (id === undefined) throw new Error(`tokenizer: no id for BPE token "${t}"`);
        ids.push(id);
      }
    }
    return ids;
  }

  /** simple_tokenizer.decode: ids back to text ('</w>' -> ' '; invalid UTF-8 replaced by U+FFFD). */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      for (const ch of this.decoder[ids[i]!] ?? '') {
        const b = this.byteDecoder.get(ch);
        if (b !== undefined) bytes.push(b);
      }
    }
    return Buffer.from(bytes).toString('utf8').replaceAll('</w>', ' ');
  }

  /**
   * clip.tokenize: [SOT] + encode(text) + [EOT], zero-padded to `contextLength`. Over-long texts throw a
   * UserError unless `truncate`, which keeps the first contextLength ids with EOT forced last (OpenAI's rule).
   */
  tokenize(texts: string | readonly string[], opts: TokenizeOptions = {}): TokenizeResult {
    const list = typeof texts === 'string' ? [texts] : texts;
    const ctx = opts.contextLength ?? DEFAULT_CONTEXT_LENGTH;
    const ids = new Int32Array(list.length * ctx);
    const eotIndex = new Int32Array(list.length);
    list.forEach((text, row) => {
      let toks = [SOT_TOKEN, ...this.encode(text), EOT_TOKEN];
      if (toks.length > ctx) {
        if (!opts.truncate) {
          throw new UserError(`text "${text}" is too long for context length ${ctx} (${toks.length} tokens)`);
        }
        toks = toks.slice(0, ctx);
        toks[ctx - 1] = EOT_TOKEN;
      }
      ids.set(toks, row * ctx);
      let arg = 0;
      for (let i = 1; i < toks.length; i++) if (toks[i]! > toks[arg]!) arg = i;
      eotIndex[row] = arg;
    });
    return { ids, shape: [list.length, ctx], eotIndex };
  }
}

/** Token ids as int64 (the dtype the MPL/MaPLe code feeds to the embedding). */
export function toInt64(ids: Int32Array): BigInt64Array {
  const out = new BigInt64Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = BigInt(ids[i]!);
  return out;
}

/** Shorthand for ClipTokenizer.default().tokenize(...). */
export function tokenize(texts: string | readonly string[], opts: TokenizeOptions = {}): TokenizeResult {
  return ClipTokenizer.default().tokenize(texts, opts);
}
