/**
 * Devices: what this process can compute on (the CPU, and CUDA GPUs when the addon was built against a
 * CUDA libtorch), the `--device` rule (`cpu | cuda | cuda:N | auto`), and the facts `mpl env` prints.
 * Nothing here falls back silently: asking for a GPU that is not there is an error that says what was found.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from './native.js';
import { UserError } from '../util/errors.js';
import type { Device } from './tensor.js';

export interface CudaDeviceInfo {
  index: number;
  name: string;
  memory_bytes: number;
  /** compute capability [major, minor] */
  capability: [number, number];
}

/** True when the addon links a CUDA libtorch (whatever GPUs are visible now). */
export function builtWithCuda(): boolean {
  return native.builtWithCuda() as boolean;
}

/** Number of visible CUDA devices (0 on a CPU-only build). */
export function cudaDeviceCount(): number {
  return builtWithCuda() ? (native.cudaDeviceCount() as number) : 0;
}

/** Name, memory and compute capability of each visible CUDA device (from the NVIDIA driver). */
export function cudaDevices(): CudaDeviceInfo[] {
  const out: CudaDeviceInfo[] = [];
  for (let i = 0; i < cudaDeviceCount(); i++) {
    const d = native.cudaDeviceInfo(i) as Omit<CudaDeviceInfo, 'index'> | null;
    out.push(d ? { index: i, ...d } : { index: i, name: 'unknown CUDA device', memory_bytes: 0, capability: [0, 0] });
  }
  return out;
}

/** Waits for the queued work of a CUDA device (all devices when omitted); a no-op for the CPU. */
export function synchronize(device?: Device): void {
  if (device !== undefined && !isCuda(device)) return;
  if (cudaDeviceCount() === 0) return;
  const index = device && device.includes(':') ? Number(device.split(':')[1]) : undefined;
  native.cudaSynchronize(index);
}

export function isCuda(device: Device): boolean {
  return device === 'cuda' || device.startsWith('cuda:');
}

/** The libtorch this addon runs on, for messages: "libtorch 1.13.0 (CPU)". */
export function libtorchDescription(): string {
  return `libtorch ${native.version() as string} (${builtWithCuda() ? 'CUDA' : 'CPU-only build'})`;
}

const CUDA_FIX =
  'install a CUDA build of PyTorch (`pip install torch`), then run `npm rebuild modular-prompt-learning` so the addon links its libtorch (README, "Devices and precision")';

/**
 * The device a `--device` value names: `cpu`, `cuda` (= cuda:0), `cuda:N`, or `auto` (the first CUDA device
 * when there is one, else the CPU). Impossible requests are errors naming what was found and the fix.
 */
export function resolveDevice(spec: string | undefined = 'cpu', flag = '--device'): Device {
  const s = spec.trim().toLowerCase();
  if (s === 'cpu') return 'cpu';
  if (s === 'auto') return cudaDeviceCount() > 0 ? 'cuda:0' : 'cpu';
  const m = /^cuda(?::(\d+))?$/.exec(s);
  if (!m) throw new UserError(`${flag} must be cpu, cuda, cuda:N or auto, got '${spec}'`);
  if (!builtWithCuda()) throw new UserError(`${flag} ${spec}: the addon is built against ${libtorchDescription()}; ${CUDA_FIX}`);
  const n = cudaDeviceCount();
  if (n === 0) {
    const visible = process.env.CUDA_VISIBLE_DEVICES;
    throw new UserError(
      `${flag} ${spec}: ${libtorchDescription()} sees no CUDA device` +
        (visible !== undefined ? ` (CUDA_VISIBLE_DEVICES='${visible}')` : '') +
        '; check `nvidia-smi` and the NVIDIA driver, or use --device cpu',
    );
  }
  const index = m[1] === undefined ? 0 : Number(m[1]);
  if (index >= n) {
    const names = cudaDevices().map((d) => `cuda:${d.index} ${d.name}`).join(', ');
    throw new UserError(`${flag} ${spec}: there ${n === 1 ? 'is 1 CUDA device' : `are ${n} CUDA devices`} (${names})`);
  }
  return `cuda:${index}`;
}

export interface CpuInfo {
  model: string;
  cores: number;
  /** the /proc/cpuinfo flags that matter for speed: avx2, avx512f, avx512_bf16, amx_bf16, amx_tile, ... */
  features: string[];
}

const INTERESTING = ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_fp16', 'avx512_vnni', 'amx_bf16', 'amx_tile', 'amx_int8', 'f16c', 'asimd', 'sve', 'bf16'];

let cpuCache: CpuInfo | null = null;

/** The CPU's model, core count and speed-relevant features (Linux /proc/cpuinfo; the model alone elsewhere). */
export function cpuInfo(): CpuInfo {
  if (cpuCache) return cpuCache;
  const cpus = os.cpus();
  let flags = new Set<string>();
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const line = /^(flags|Features)\s*:\s*(.*)$/m.exec(text);
    if (line) flags = new Set(line[2].trim().split(/\s+/));
  } catch {
    // not Linux: no feature list
  }
  cpuCache = {
    model: cpus[0]?.model?.trim() ?? 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    features: INTERESTING.filter((f) => flags.has(f)),
  };
  return cpuCache;
}

/**
 * oneDNN's cap on the instruction sets it dispatches to ($ONEDNN_MAX_CPU_ISA, or $DNNL_MAX_CPU_ISA in older
 * builds), upper-cased, when one is set and below native bf16 (AVX512_CORE_BF16); else null. A capped oneDNN
 * computes as a CPU without those instructions does, so the precision rules follow the cap, not the flags.
 */
export function onednnCapBelowBf16(env: NodeJS.ProcessEnv = process.env): string | null {
  const cap = (env.ONEDNN_MAX_CPU_ISA ?? env.DNNL_MAX_CPU_ISA ?? '').trim().toUpperCase();
  if (!cap || cap === 'ALL') return null;
  // oneDNN's ISA names that include native bf16 dot products: AVX512_CORE_BF16 and every AMX / AVX10 level above it
  return /^(AVX512_CORE_BF16|AVX512_CORE_FP16|AVX512_CORE_AMX.*|AVX10_\d.*)$/.test(cap) ? null : cap;
}

/**
 * A CPU with native bf16 matrix instructions (AMX or AVX512-BF16) that oneDNN may use: the only CPUs where
 * bf16 is faster than fp32 (docs/precision.md, "bf16 on CPUs without native bf16").
 */
export function cpuHasNativeBf16(info: CpuInfo = cpuInfo(), env: NodeJS.ProcessEnv = process.env): boolean {
  return info.features.some((f) => f === 'amx_bf16' || f === 'avx512_bf16') && onednnCapBelowBf16(env) === null;
}

/**
 * The CPU's class for reduced precision, as the precision rules and the tests name it: 'native-bf16' (AMX or
 * AVX512-BF16), 'avx512' (AVX-512 without bf16: oneDNN emulates bf16), 'avx2' (ATen's own bf16 loops), or
 * 'other' (neither AVX2 nor AVX-512, e.g. ARM). A oneDNN cap below native bf16 lowers the class.
 */
export type CpuClass = 'native-bf16' | 'avx512' | 'avx2' | 'other';
export function cpuClass(info: CpuInfo = cpuInfo(), env: NodeJS.ProcessEnv = process.env): CpuClass {
  if (cpuHasNativeBf16(info, env)) return 'native-bf16';
  const cap = onednnCapBelowBf16(env);
  if (info.features.includes('avx512f') && (cap === null || cap.startsWith('AVX512'))) return 'avx512';
  if (info.features.includes('avx2')) return 'avx2';
  return 'other';
}
