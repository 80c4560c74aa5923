/**
 * SigLIP's tokenizer, as transformers' SiglipTokenizer (and big_vision) make input ids:
 *   lower-case; remove ASCII punctuation (Python's string.punctuation); collapse whitespace runs to one space;
 *   strip; then SentencePiece with a dummy prefix ("▁" before the first word), append `</s>`, pad with the pad
 *   token (`</s>` in SigLIP) to the model's fixed length (64 for most, 16 for some); longer texts keep their
 *   first length-1 pieces and `</s>`. There is no start token, and the pooled position is always the last one.
 *
 * The SentencePiece model (`spiece.model`, a protobuf) is read here; the segmentation itself is the unigram
 * Viterbi of Hugging Face's tokenizers.js (`@huggingface/tokenizers`: its `Unigram` model and its
 * `Precompiled` normaliser, which applies NFKC with SentencePiece's nmt_nfkc whitespace and control-character
 * rules). Tests compare every id with SentencePiece's own output (test/fixtures/siglip/tokenizer_cases.json).
 */
import * as fs from 'node:fs';
import { fileError, UserError } from '../../util/errors.js';
import { pyStrip, type TokenizeOptions, type TokenizeResult } from '../clip/tokenizer.js';

/**
 * The two pieces of tokenizers.js used here. Its bundled .d.ts files use extension-less ESM imports that
 * TypeScript's nodenext resolution cannot follow from this CommonJS package, so the shapes are declared here.
 */
interface UnigramModel {
  tokenize(normalized: string): string[];
  unk_token_id: number;
}
interface TokenizersJs {
  Unigram: new (config: { type: 'Unigram'; vocab: Array<[string, number]>; unk_id: number }, eosToken: string) => UnigramModel;
  PrecompiledNormalizer: new (config: { type: 'Precompiled'; precompiled_charsmap: string }) => { normalize(text: string): string };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Unigram, PrecompiledNormalizer } = require('@huggingface/tokenizers') as TokenizersJs;

/** SentencePiece piece types (sentencepiece_model.proto). */
const PIECE_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 5, UNUSED: 6 } as const;

interface Piece {
  piece: string;
  score: number;
  type: number;
}

interface SentencePieceModel {
  pieces: Piece[];
  /** TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char */
  modelType: number;
  byteFallback: boolean;
  normalizerName: string;
  charsmap: Uint8Array | null;
}

// ---- a minimal protobuf reader: the few fields of sentencepiece_model.proto this tokenizer needs ----------

class ProtoReader {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly file: string,
  ) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw fileError(this.file, 'is not a SentencePiece model (truncated protobuf)');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw fileError(this.file, 'is not a SentencePiece model (bad varint)');
    }
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw fileError(this.file, 'is not a SentencePiece model (truncated field)');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  float(): number {
    if (this.pos + 4 > this.buf.length) throw fileError(this.file, 'is not a SentencePiece model (truncated float)');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw fileError(this.file, `is not a SentencePiece model (protobuf wire type ${wire})`);
  }
  /** Each field of this message: (field number, wire type). */
  *fields(): Generator<[number, number]> {
    while (!this.done) {
      const key = this.varint();
      yield [Math.floor(key / 8), key & 7];
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads spiece.model: the pieces (with scores and types), the trainer's model type and the normaliser. */
export function readSentencePieceModel(file: string): SentencePieceModel {
  let buf: Uint8Array;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw fileError(file, `cannot read the SentencePiece model: ${(e as Error).message}`);
  }
  const model: SentencePieceModel = { pieces: [], modelType: 1, byteFallback: false, normalizerName: '', charsmap: null };
  const top = new ProtoReader(buf, file);
  for (const [field, wire] of top.fields()) {
    if (field === 1 && wire === 2) {
      const r = new ProtoReader(top.bytes(), file);
      const p: Piece = { piece: '', score: 0, type: PIECE_TYPE.NORMAL };
      for (const [f, w] of r.fields()) {
        if (f === 1 && w === 2) p.piece = utf8.decode(r.bytes());
        else if (f === 2 && w === 5) p.score = r.float();
        else if (f === 3 && w === 0) p.type = r.varint();
        else r.skip(w);
      }
      model.pieces.push(p);
    } else if (field === 2 && wire === 2) {
      const r = new ProtoReader(top.bytes(), file);
      for (const [f, w] of r.fields()) {
        if (f === 3 && w === 0) model.modelType = r.varint();
        else if (f === 35 && w === 0) model.byteFallback = r.varint() !== 0;
        else r.skip(w);
      }
    } else if (field === 3 && wire === 2) {
      const r = new ProtoReader(top.bytes(), file);
      for (const [f, w] of r.fields()) {
        if (f === 1 && w === 2) model.normalizerName = utf8.decode(r.bytes());
        else if (f === 2 && w === 2) model.charsmap = r.bytes().slice();
        else r.skip(w);
      }
    } else top.skip(wire);
  }
  if (model.pieces.length === 0) throw fileError(file, 'is not a SentencePiece model (no pieces)');
  return model;
}

/** Python's string.punctuation. */
const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
/** Python's `re` \s on str (= str.isspace()), as the CLIP tokenizer's pyStrip uses. */
const PY_WS_RUN = /[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/gu;
const SPIECE_UNDERLINE = '\u2581';

/** SiglipTokenizer.canonicalize_text after its lower-casing: punctuation removed, whitespace collapsed, stripped. */
export function canonicalizeText(text: string): string {
  return pyStrip(text.toLowerCase().replace(PUNCTUATION, '').replace(PY_WS_RUN, ' '));
}

export interface SiglipTokenizerOptions {
  /** the fixed text length (the model's max_position_embeddings): 64 for most SigLIPs */
  contextLength: number;
  /** the pad token (`</s>` in SigLIP; tokenizer_config.json's pad_token) */
  padToken?: string;
  eosToken?: string;
}

export class SiglipTokenizer {
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly contextLength: number;
  /** tokens before the text (CLIP's start token): none */
  readonly prefixTokens = 0;
  private readonly unigram: UnigramModel;
  private readonly normalizer: { normalize(text: string): string } | null;
  private readonly ids = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(
    readonly file: string,
    options: SiglipTokenizerOptions,
  ) {
    const m = readSentencePieceModel(file);
    if (m.modelType !== 1) throw fileError(file, `is a SentencePiece ${['', 'unigram', 'BPE', 'word', 'char'][m.modelType] ?? `type-${m.modelType}`} model; SigLIP's tokenizer is a unigram model (SigLIP 2's Gemma tokenizer is not supported)`);
    if (m.byteFallback) throw fileError(file, 'uses byte fallback (a Gemma-style vocabulary); only SigLIP\'s T5-style unigram vocabulary is supported');
    m.pieces.forEach((p, i) => {
      if (!this.ids.has(p.piece)) this.ids.set(p.piece, i);
    });
    const unk = m.pieces.findIndex((p) => p.type === PIECE_TYPE.UNKNOWN);
    if (unk < 0) throw fileError(file, 'has no <unk> piece');
    const id = (token: string, what: string) => {
      const i = this.ids.get(token);
      if (i === undefined) throw fileError(file, `has no ${what} piece "${token}"`);
      return i;
    };
    this.eosId = id(options.eosToken ?? '</s>', 'end-of-sequence');
    this.padId = id(options.padToken ?? '</s>', 'pad');
    this.vocabSize = m.pieces.length;
    this.contextLength = options.contextLength;
    // Control pieces (<pad>, </s>) and unused ones never match text, as in SentencePiece: their surface (e.g. "</s>")
    // cannot survive the punctuation removal anyway, but they are kept out of the lattice on principle.
    const vocab: Array<[string, number]> = m.pieces.map((p) =>
      p.type === PIECE_TYPE.NORMAL || p.type === PIECE_TYPE.USER_DEFINED || p.type === PIECE_TYPE.UNKNOWN ? [p.piece, p.score] : [`\u0000control${p.piece}`, p.score],
    );
    this.unigram = new Unigram({ type: 'Unigram', vocab, unk_id: unk }, options.eosToken ?? '</s>');
    this.normalizer = m.charsmap && m.charsmap.length ? new PrecompiledNormalizer({ type: 'Precompiled', precompiled_charsmap: Buffer.from(m.charsmap).toString('base64') }) : null;
  }

  /** Piece ids of a text without special tokens (SiglipTokenizer(text, add_special_tokens=False)). */
  encode(text: string): number[] {
    const hit = this.cache.get(text);
    if (hit) return hit;
    const clean = canonicalizeText(text.replaceAll(SPIECE_UNDERLINE, ' '));
    const ids: number[] = [];
    if (clean) {
      // SentencePiece: the normaliser's character map, remove_extra_whitespaces, the dummy prefix, spaces as "▁"
      const norm = (this.normalizer ? this.normalizer.normalize(clean) : clean).replace(/ +/g, ' ').trim();
      if (norm) {
        const unk = this.unigram.unk_token_id;
        for (const p of this.unigram.tokenize(SPIECE_UNDERLINE + norm.replaceAll(' ', SPIECE_UNDERLINE))) {
          const id = this.ids.get(p) ?? unk;
          // SentencePiece merges a run of unknown characters into one <unk> (tokenizers.js leaves one per character)
          if (id !== unk || ids[ids.length - 1] !== unk) ids.push(id);
        }
      }
    }
    if (this.cache.size < 100_000) this.cache.set(text, ids);
    return ids;
  }

  /**
   * [N, contextLength] ids: encode(text) + `</s>`, padded with the pad token. Over-long texts throw a UserError
   * unless `truncate` (the first contextLength-1 pieces and `</s>`, as transformers' truncation). The pooled
   * position (`eotIndex`) is always the last one.
   */
  tokenize(texts: string | readonly string[], opts: TokenizeOptions = {}): TokenizeResult {
    const list = typeof texts === 'string' ? [texts] : texts;
    const L = opts.contextLength ?? this.contextLength;
    const ids = new Int32Array(list.length * L).fill(this.padId);
    const eotIndex = new Int32Array(list.length).fill(L - 1);
    list.forEach((text, row) => {
      let toks = this.encode(text);
      if (toks.length + 1 > L) {
        if (!opts.truncate) throw new UserError(`text "${text}" is too long for the text length ${L} (${toks.length + 1} tokens)`);
        toks = toks.slice(0, L - 1);
      }
      ids.set([...toks, this.eosId], row * L);
    });
    return { ids, shape: [list.length, L], eotIndex };
  }
}
