/** The sweep both executor tests run: MPL and CoOp on a generated image folder, seeds 1 and 2, tiny CLIP. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir } from '../helpers.js';
import { makeImageFolder } from '../e2e/fixtures.js';

/** Writes `<work>/sweep.yaml` (2 methods × 2 seeds, `epochs` each, into `<work>/<out>`) and its image folder; returns the file. */
export async function colourSweep(work: string, epochs: number, out = 'runs'): Promise<string> {
  await makeImageFolder(path.join(work, 'images'), ['red', 'green', 'blue', 'yellow']);
  const file = path.join(work, 'sweep.yaml');
  fs.writeFileSync(
    file,
    `out: ${JSON.stringify(out)}
weights: ${path.join(goldenDir, 'tiny_clip.safetensors')}
protocol: base2new
datasets: [{ name: colours, root: ./images }]
methods: [{ name: mpl, options: { depth: 3 } }, { name: coop, batch-size: 4 }]
seeds: [1, 2]
epochs: ${epochs}
workers: 1
`,
  );
  return file;
}
