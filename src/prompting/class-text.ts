/**
 * The text tower at scale (ImageNet's 1,000 classes): class text features computed over blocks of rows (a
 * row is one class prompt; CoCoOp's rows are image × class), and a training backward pass whose memory does
 * not grow with the number of classes, with the gradients of one plain forward and backward.
 *
 * The features themselves are small (C × 512 floats). What grows is the text tower's activations, which
 * autograd keeps for the backward pass (about L × layers × 20 × width floats per class). So
 * `blockedForwardBackward`:
 *   1. computes every block's features, keeping the graph of blocks while they fit `keepBytes` and computing
 *      the others without one;
 *   2. hands the caller's head a leaf tensor holding all the features: the head computes the logits, the loss
 *      and the method's extra terms, and its backward gives d(loss)/d(features) plus every gradient that does
 *      not pass through the text tower (vision prompts, couplings);
 *   3. backpropagates d(loss)/d(features) into the kept blocks' graphs, and re-runs each other block with a
 *      graph and backpropagates its rows of d(loss)/d(features) right away, freeing it before the next.
 * Gradients accumulate over these backward calls as they do over the branches of one graph: the result is
 * the chain rule through the same operations, the sum over classes split into blocks (fp32 rounding of that
 * sum is the only difference; test/prompting/class-text.test.ts holds every method to the parity bounds).
 *
 * Nothing here knows CLIP or a method: a learner supplies `encode(rows)` and an estimate of the bytes one
 * row's graph keeps, so a second backbone family reuses it as it is.
 */
import { Tensor, cat, noGrad, tensor, tidy } from '../torch/index.js';

/** Rows of text (class prompts) whose normalised features a learner can compute block by block. */
export interface RowText {
  /** number of rows: the feature matrix is [rows, E] in row order */
  rows: number;
  /** the blocks: a partition of 0..rows-1 (rows of similar prompt length together), each a list of rows */
  blocks: number[][];
  /** normalised features of these rows [n, E], with a graph when grad is enabled (in the current scope) */
  encode(rows: number[]): Tensor;
  /** the bytes autograd is expected to keep for this block's graph (its activations) */
  graphBytes(rows: number[]): number;
}

/** How a blocked pass went: blocks in all, blocks whose graph was kept, blocks recomputed in the backward pass. */
export interface BlockStats {
  blocks: number;
  kept: number;
  recomputed: number;
}

/** The blocks' rows as an int64 index tensor on `device` (in the current scope). */
function rowIndex(rows: number[], device: Tensor['device']): Tensor {
  return tensor(BigInt64Array.from(rows, (r) => BigInt(r)), [rows.length], 'int64', device === 'cpu' ? undefined : device);
}

/** Whether the blocks, in order, are 0, 1, ..., n-1 (no reordering needed). */
function inRowOrder(blocks: number[][]): boolean {
  let next = 0;
  for (const b of blocks) for (const r of b) if (r !== next++) return false;
  return true;
}

/** Features of per-block parts put back in row order [rows, E] (in the current scope). */
function assemble(parts: Tensor[], blocks: number[][]): Tensor {
  const all = parts.length === 1 ? parts[0] : cat(parts, 0);
  if (inRowOrder(blocks)) return all;
  const order = blocks.flat();
  const inverse = new Array<number>(order.length);
  order.forEach((row, i) => (inverse[row] = i));
  return all.indexSelect(0, rowIndex(inverse, all.device));
}

/** Every row's features [rows, E] in row order, block by block (a graph for all of them when grad is enabled). */
export function encodeRows(text: RowText): Tensor {
  return tidy(() => assemble(text.blocks.map((b) => text.encode(b)), text.blocks));
}

/**
 * The training pass with bounded text memory. `head(features)` receives the [rows, E] features as a leaf
 * that requires grad, computes whatever it needs (logits, loss) and returns the scalar to differentiate
 * (`backward`, e.g. the loss, or the scaled loss under amp) with anything else it wants back (`result`). When
 * this returns, every trainable tensor's gradient holds what `backward.backward()` through the plain graph
 * would have given. Blocks whose graph fits `keepBytes` (in block order) are not recomputed.
 * Runs in the caller's scope: `result` is returned as the head made it.
 */
export function blockedForwardBackward<T>(
  text: RowText,
  keepBytes: number,
  head: (features: Tensor) => { backward: Tensor; result: T },
  stats?: BlockStats,
): T {
  const kept: { rows: number[]; out: Tensor }[] = [];
  const recompute: number[][] = [];
  const leaf = tidy(() => {
    let used = 0;
    const parts = text.blocks.map((rows) => {
      const bytes = text.graphBytes(rows);
      if (used + bytes <= keepBytes) {
        used += bytes;
        const out = text.encode(rows).keep();
        kept.push({ rows, out });
        return out.detach();
      }
      recompute.push(rows);
      return noGrad(() => text.encode(rows));
    });
    if (stats) Object.assign(stats, { blocks: text.blocks.length, kept: kept.length, recomputed: recompute.length });
    return noGrad(() => assemble(parts, text.blocks).contiguous());
  });
  try {
    leaf.requiresGrad_(true);
    const { backward, result } = head(leaf);
    backward.backward();
    const upstream = leaf.grad;
    // no gradient reached the features (a head that ignores them): nothing flows into the text tower
    if (!upstream) return result;
    try {
      for (const k of kept) {
        tidy(() => k.out.backward(upstream.indexSelect(0, rowIndex(k.rows, upstream.device))));
        k.out.dispose(); // its graph is spent: free it before the next block
      }
      for (const rows of recompute) tidy(() => text.encode(rows).backward(upstream.indexSelect(0, rowIndex(rows, upstream.device))));
    } finally {
      upstream.dispose();
    }
    return result;
  } finally {
    for (const k of kept) k.out.dispose(); // safe twice; frees the graphs when the head failed
    leaf.dispose();
  }
}

/**
 * Blocks of rows grouped by prompt length: rows sorted by `length` (stable), cut into blocks of at most
 * `blockTokens` tokens (a block's token count is its rows × its longest prompt, the length the causal text
 * encoder is cut to), at least one row each. Grouping similar lengths keeps the padding of short prompts to a
 * long one's length out of the work.
 */
export function blocksByLength(lengths: readonly number[], blockTokens: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const blocks: number[][] = [];
  let cur: number[] = [];
  for (const row of order) {
    // sorted ascending: this row's length is the block's longest so far
    if (cur.length > 0 && (cur.length + 1) * lengths[row] > blockTokens) {
      blocks.push(cur);
      cur = [];
    }
    cur.push(row);
  }
  if (cur.length) blocks.push(cur);
  return blocks;
}
