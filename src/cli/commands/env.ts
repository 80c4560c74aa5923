import type { Command } from 'commander';
import { envReport, formatEnv } from '../../torch/environment.js';

/** `mpl env`: the libtorch, devices, CPU features and BLAS this process computes with. */
export function register(program: Command): void {
  program
    .command('env')
    .description('print the libtorch, GPUs, CPU features and BLAS in use, and what --device/--precision auto choose')
    .option('--json', 'one JSON object: {"libtorch", "cuda_available", "devices": [{"name", "memory_bytes"}], "cpu": {"model", "cores", "features"}, "blas", ...}')
    .action((opts: { json?: boolean }) => {
      const r = envReport();
      process.stdout.write((opts.json ? JSON.stringify(r) : formatEnv(r)) + '\n');
    });
}
