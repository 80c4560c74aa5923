import type { Batch, BatchSource } from '../../src/train/batches.js';

/** Eight synthetic 32x32 images of two classes: bright left half vs bright right half. */
export function syntheticSource(): BatchSource {
  const S = 32;
  const images: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 8; i++) {
    const y = i % 2;
    const img = new Float32Array(3 * S * S);
    for (let c = 0; c < 3; c++) for (let r = 0; r < S; r++) for (let x = 0; x < S; x++) img[c * S * S + r * S + x] = (x < S / 2) === (y === 0) ? 1.5 : -1.5 + 0.01 * ((r * 7 + c) % 5);
    images.push(img);
    labels.push(y);
  }
  return {
    length: 8,
    batchesPerEpoch: () => 2,
    async *batches(): AsyncGenerator<Batch> {
      for (let b = 0; b < 2; b++) {
        const data = new Float32Array(4 * 3 * S * S);
        for (let i = 0; i < 4; i++) data.set(images[b * 4 + i], i * 3 * S * S);
        yield { images: data, labels: Int32Array.from(labels.slice(b * 4, b * 4 + 4)), size: 4, imageSize: S };
      }
    },
    async close() {},
  };
}
