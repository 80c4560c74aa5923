"""Memory for the benchmarks' PyTorch baselines (the counterpart of bench/memory.ts): the process's resident
high-water mark, its reset per phase, and the cap MPL_BENCH_MEMORY_LIMIT (bytes) given by the benchmark: an
address-space limit of the address space now plus the resident memory the process may still add, so an
allocation past the limit fails ("can't allocate memory") and the phase is reported as not fitting instead of
taking the machine's memory. Not on CUDA (the driver reserves huge address ranges); there the benchmark's
watchdog alone ends a process past the limit, and the allocator's own peak is reported."""
import os
import resource


def _status():
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmSize", "VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def peak_rss():
    """The resident high-water mark in bytes since the last reset_peak()."""
    return _status().get("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def cap(cuda):
    """Sets the address-space cap from MPL_BENCH_MEMORY_LIMIT; returns the limit in bytes (None: no limit).
    Also makes this process the first the kernel's OOM killer ends, should the machine run out anyway: a
    benchmark must never cost another process its memory."""
    limit = os.environ.get("MPL_BENCH_MEMORY_LIMIT")
    if not limit:
        return None
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    limit = int(limit)
    s = _status()
    if not cuda and "VmSize" in s:
        soft = s["VmSize"] + max(0, limit - s["VmRSS"])
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    return limit


def out_of_memory(e):
    """Whether an exception is an allocation the cap (or the GPU) refused."""
    if isinstance(e, MemoryError):
        return True
    m = str(e)
    return any(s in m for s in ("can't allocate memory", "not enough memory", "out of memory", "CUDA out of memory", "bad_alloc"))
