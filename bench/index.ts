/**
 * The benchmark harness: every benchmark in turn, each beside plain PyTorch when /usr/bin/python3 has
 * torch. `npm run bench` (or `node dist/bench/index.js [--json]`); single ones: `npx mpl bench <name>`.
 * Figures and the machine they came from are in README.md ("Benchmarks").
 */
import { formatDataBench, runDataBench } from './data.js';
import { formatEngineBench, runEngineBench } from './engine.js';
import { formatTrainBench, runTrainBench } from './train.js';
import { formatZeroshotBench, runZeroshotBench } from './zeroshot.js';

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const out = (name: string, result: unknown, text: string) => console.log(json ? JSON.stringify({ bench: name, ...(result as object) }) : `${text}\n`);
  const engine = runEngineBench();
  out('engine', engine, formatEngineBench(engine));
  const zeroshot = runZeroshotBench();
  out('zeroshot', zeroshot, formatZeroshotBench(zeroshot));
  const trainR = await runTrainBench();
  out('train', trainR, formatTrainBench(trainR));
  const data = await runDataBench();
  out('data', data, formatDataBench(data));
}

void main();
