"""Process memory readings shared by the benchmarks (Linux ``/proc``, with fallbacks)."""

from __future__ import annotations

import gc
import resource
import sys
from pathlib import Path


def _proc_kib(path: str, field: str) -> int | None:
    """``field`` (in kiB) of a ``/proc`` key-value file, in bytes; None if unreadable."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def cpu_peak() -> int:
    """Peak resident memory of this process in bytes.

    ``VmHWM`` of ``/proc/self/status`` on Linux: the high-water mark of this process's
    own address space, which :func:`reset_cpu_peak` can reset. ``ru_maxrss`` is the same
    number except that it is also at least the peak of the *launching* process's
    address space recorded at ``exec`` (kernel ``signal->maxrss``), which no reset
    clears and which hid small deltas; it is the fallback where ``/proc`` is absent.
    """
    hwm = _proc_kib("/proc/self/status", "VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def reset_cpu_peak() -> int:
    """Reset the peak-RSS mark where Linux allows it; return the baseline in bytes."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux / not permitted: the delta then under-reports earlier peaks
    return cpu_peak()


def mem_available() -> int:
    """``MemAvailable`` in bytes (effectively unlimited where ``/proc`` is absent)."""
    avail = _proc_kib("/proc/meminfo", "MemAvailable")
    return 1 << 62 if avail is None else avail
