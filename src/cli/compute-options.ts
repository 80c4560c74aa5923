/**
 * `--device` and `--precision`, shared by every command that computes (protocols, zeroshot, predict, bench,
 * quickstart). Resolution and its errors live in src/torch (device.ts, precision.ts); this only adds the flags
 * and says once what was chosen.
 */
import type { Command } from 'commander';
import { cpuInfo, cudaDevices, isCuda, resolveDevice, resolvePrecision, type Device, type Precision } from '../torch/index.js';
import type { Reporter } from '../util/reporter.js';

export interface ComputeFlags {
  device?: string;
  precision?: string;
}

export function addComputeOptions(cmd: Command, defaults: { device?: string; precision?: string } = {}): Command {
  return cmd
    .option('--device <d>', 'cpu | cuda | cuda:N | auto (the first GPU when there is one)', defaults.device ?? 'auto')
    .option(
      '--precision <p>',
      'fp32 | fp16 (the official GPU recipe) | amp | bf16 | auto (fp16 on a GPU, bf16 on CPUs with AMX/AVX512-BF16, else fp32)',
      defaults.precision ?? 'auto',
    );
}

export interface Compute {
  device: Device;
  precision: Precision;
  /** "cuda:0 (NVIDIA H100 80GB HBM3)" or "cpu (AMD EPYC ...)" */
  description: string;
  /** one line for the log: device, precision and why `auto` chose it */
  summary: string;
}

/**
 * The device and precision the flags ask for (errors for impossible requests). Nothing is printed here: the
 * caller shows `summary` once its inputs are known to be good, so a bad flag still fails in one line.
 */
export function computeFrom(flags: ComputeFlags): Compute {
  const device = resolveDevice(flags.device ?? 'auto');
  const notes: string[] = [];
  const precision = resolvePrecision(flags.precision ?? 'auto', device, { note: (m) => notes.push(m) });
  const description = describeDevice(device);
  return { device, precision, description, summary: [`device ${description}, precision ${precision.name}`, ...notes].join('; ') };
}

/** Prints the compute summary as one info line. */
export function announce(compute: Compute, reporter: Reporter): void {
  reporter.info(compute.summary);
}

export function describeDevice(device: Device): string {
  if (!isCuda(device)) return `cpu (${cpuInfo().model})`;
  const index = device.includes(':') ? Number(device.split(':')[1]) : 0;
  return `${device} (${cudaDevices()[index]?.name ?? 'CUDA device'})`;
}
