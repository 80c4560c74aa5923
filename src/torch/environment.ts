/** What this process computes with: tool and libtorch versions, devices, CPU, threads, BLAS (`mpl env`, run logs). */
import {
  blasInfo,
  builtWithCuda,
  cpuBf16Decision,
  cpuClass,
  cpuInfo,
  cudaDevices,
  getNumThreads,
  hasSdpa,
  native,
  resolveDevice,
  resolvePrecision,
  torchVersion,
} from './index.js';

export interface EnvReport {
  tool_version: string;
  node: string;
  libtorch: string;
  /** the CUDA version libtorch was built with, when it was */
  libtorch_cuda: string | null;
  /** oneDNN (MKL-DNN) inside libtorch: the CPU's bf16 matmuls */
  onednn: string | null;
  built_with_cuda: boolean;
  cuda_available: boolean;
  /** the NVIDIA driver's CUDA version, e.g. "13.0", when a driver is present */
  cuda_driver: string | null;
  devices: Array<{ index: number; name: string; memory_bytes: number; capability: string }>;
  cpu: { model: string; cores: number; features: string[] };
  /** the instruction set ATen's CPU kernels dispatch to (AVX512, AVX2, DEFAULT; $ATEN_CPU_CAPABILITY lowers it) */
  aten_cpu_capability: string | null;
  /** the CPU's class for bf16 (native-bf16, avx512, avx2, other), what --precision bf16 does there, and why (docs/precision.md) */
  cpu_bf16: { class: string; allowed: boolean; why: string };
  threads: number;
  blas: string;
  fused_attention: boolean;
  /** what --device auto and --precision auto choose here */
  auto: { device: string; precision: string };
}

function configValue(config: string, pattern: RegExp): string | null {
  return pattern.exec(config)?.[1] ?? null;
}

export function envReport(): EnvReport {
  const config = native.showConfig() as string;
  const devices = cudaDevices();
  const driver = native.cudaDriverVersion() as number | null;
  const blas = blasInfo();
  const autoDevice = resolveDevice('auto');
  return {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    tool_version: (require('../../../package.json') as { version: string }).version,
    node: process.version,
    libtorch: torchVersion(),
    libtorch_cuda: builtWithCuda() ? configValue(config, /CUDA_VERSION=([\d.]+)/) ?? configValue(config, /CUDA Runtime ([\d.]+)/) : null,
    onednn: configValue(config, /MKL-DNN v([\d.]+)/),
    built_with_cuda: builtWithCuda(),
    cuda_available: devices.length > 0,
    cuda_driver: driver ? `${Math.floor(driver / 1000)}.${(driver % 1000) / 10}` : null,
    devices: devices.map((d) => ({ index: d.index, name: d.name, memory_bytes: d.memory_bytes, capability: d.capability.join('.') })),
    cpu: cpuInfo(),
    aten_cpu_capability: configValue(config, /CPU capability usage: (\w+)/),
    cpu_bf16: { class: cpuClass(), ...cpuBf16Decision() },
    threads: getNumThreads(),
    blas: `${blas.kind}${blas.library ? ` (${blas.library})` : ''}, ${blas.gflops.toFixed(0)} GFLOP/s float32 matmul`,
    fused_attention: hasSdpa(),
    auto: { device: autoDevice, precision: resolvePrecision('auto', autoDevice).name },
  };
}

/** The report as a few lines of text (`mpl env`, the head of every run's log.txt). */
export function formatEnv(r: EnvReport): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const lines = [
    `mpl ${r.tool_version} on Node.js ${r.node}`,
    `libtorch ${r.libtorch}${r.built_with_cuda ? ` (CUDA ${r.libtorch_cuda ?? '?'})` : ' (CPU-only build)'}${r.onednn ? `, oneDNN ${r.onednn}` : ''}${r.fused_attention ? ', fused attention' : ''}`,
    `cpu: ${r.cpu.model}, ${r.cpu.cores} cores, ${r.threads} threads; features: ${r.cpu.features.join(' ') || '-'}${r.aten_cpu_capability ? `; ATen kernels ${r.aten_cpu_capability}` : ''}`,
    `bf16 on the cpu (class ${r.cpu_bf16.class}): ${r.cpu_bf16.allowed ? 'yes' : 'refused'}, ${r.cpu_bf16.why}`,
    `blas: ${r.blas}`,
  ];
  if (r.devices.length === 0) lines.push(`cuda: ${r.built_with_cuda ? 'no device visible' : 'not built with CUDA'}`);
  for (const d of r.devices) lines.push(`cuda:${d.index}: ${d.name}, ${gib(d.memory_bytes)}, compute capability ${d.capability}${r.cuda_driver ? `, driver CUDA ${r.cuda_driver}` : ''}`);
  lines.push(`auto: --device ${r.auto.device} --precision ${r.auto.precision}`);
  return lines.join('\n');
}
