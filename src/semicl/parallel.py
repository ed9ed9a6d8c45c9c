"""Work side by side on threads: several networks trained or run at once on a CPU.

PyTorch releases the GIL inside its operators, so two Python threads running two
networks use two cores, each with its own torch (OpenMP) thread count. On the 2-core CPU
of the benchmarks, an MSD round with two networks side by side, one torch thread each,
took 40.4 s against 36.1 s for one network on one thread (the same number of steps;
``benchmarks/round_speed.py --members 1 2``, ``benchmarks/results/round_speed_members.md``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from semicl.device import set_cpu_threads

T = TypeVar("T")

__all__ = ["member_threads", "side_by_side"]


def member_threads(jobs: int, budget: int | None = None) -> int:
    """Torch threads each of ``jobs`` side-by-side jobs gets out of ``budget`` (default:
    the calling thread's count): an equal share, at least one."""
    budget = torch.get_num_threads() if budget is None else int(budget)
    return max(1, budget // max(1, int(jobs)))


def side_by_side(jobs: Sequence[Callable[[], T]], threads: int | None = None) -> list[T]:
    """Run ``jobs[0]`` on this thread and each other job on a thread of its own, each with
    ``threads`` torch threads (default :func:`member_threads`); return their results in
    order. Every job runs under this thread's autograd mode (grad mode is per thread in
    torch: a prediction under ``no_grad`` stays without a graph). The first exception
    raised by a job is raised here once every job has ended; this thread's torch thread
    count is restored."""
    if len(jobs) == 1:
        return [jobs[0]()]
    threads = member_threads(len(jobs)) if threads is None else threads
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException | None] = [None] * len(jobs)

    grad = torch.is_grad_enabled()

    def run(i: int) -> None:
        try:
            set_cpu_threads(threads)
            with torch.set_grad_enabled(grad):
                results[i] = jobs[i]()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[i] = exc

    before = torch.get_num_threads()
    workers = [threading.Thread(target=run, args=(i,), name=f"semicl-side-{i}", daemon=True)
               for i in range(1, len(jobs))]
    for w in workers:
        w.start()
    try:
        run(0)
    finally:
        for w in workers:
            w.join()
        set_cpu_threads(before)
    for exc in errors:
        if exc is not None:
            raise exc
    return results  # type: ignore[return-value]
