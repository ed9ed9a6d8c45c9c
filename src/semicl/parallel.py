"""Work side by side on threads: several networks trained or run at once on a CPU.

PyTorch releases the GIL inside its operators, so two Python threads running two
networks use two cores, each with its own torch (OpenMP) thread count. On the 2-core CPU
of the benchmarks, an MSD round with two networks side by side, one torch thread each,
took 40.4 s against 36.1 s for one network on one thread (the same number of steps;
``benchmarks/round_speed.py --members 1 2``, ``benchmarks/results/round_speed_members.md``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch

from semicl.device import set_cpu_threads

T = TypeVar("T")

__all__ = ["Background", "keeping_cpu_threads", "member_threads", "side_by_side"]


def member_threads(jobs: int, budget: int | None = None) -> int:
    """Torch threads each of ``jobs`` side-by-side jobs gets out of ``budget`` (default:
    the calling thread's count): an equal share, at least one."""
    budget = torch.get_num_threads() if budget is None else int(budget)
    return max(1, budget // max(1, int(jobs)))


def round_threads(threads: int | None, jobs: int) -> int:
    """Torch threads of a round that trains ``jobs`` networks side by side, out of
    ``threads`` (None: the calling thread's count): at least one per network."""
    threads = torch.get_num_threads() if threads is None else int(threads)
    return max(threads, int(jobs))


@contextlib.contextmanager
def keeping_cpu_threads() -> Iterator[None]:
    """This thread's torch thread count is put back as it was when the block ends."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        set_cpu_threads(before)


class Background:
    """``jobs`` started at once, each on a thread of its own (named ``name-1``, ``name-2``,
    ...) with ``threads`` torch threads, under the creating thread's autograd mode (grad
    mode is per thread in torch: a prediction under ``no_grad`` stays without a graph).
    ``results[i]`` / ``errors[i]``: what job ``i`` returned or raised."""

    def __init__(self, jobs: Sequence[Callable[[], T]], threads: int, name: str) -> None:
        self.results: list[T | None] = [None] * len(jobs)
        self.errors: list[BaseException | None] = [None] * len(jobs)
        grad = torch.is_grad_enabled()

        def run(i: int) -> None:
            try:
                set_cpu_threads(threads)
                with torch.set_grad_enabled(grad):
                    self.results[i] = jobs[i]()
            except BaseException as exc:  # noqa: BLE001 - the caller raises it
                self.errors[i] = exc

        self._threads = [threading.Thread(target=run, args=(i,), name=f"{name}-{i + 1}",
                                          daemon=True) for i in range(len(jobs))]
        for t in self._threads:
            t.start()

    def alive(self) -> list[int]:
        """Indices of the jobs still running."""
        return [i for i, t in enumerate(self._threads) if t.is_alive()]

    def join(self, index: int | None = None, timeout: float | None = None) -> None:
        """Wait for job ``index`` (at most ``timeout`` s), or for every job."""
        for t in self._threads if index is None else [self._threads[index]]:
            t.join(timeout)

    def raise_error(self) -> None:
        """Raise the first error a job has ended with, if any."""
        failed = next((e for e in self.errors if e is not None), None)
        if failed is not None:
            raise failed


def side_by_side(jobs: Sequence[Callable[[], T]], threads: int | None = None) -> list[T]:
    """Run ``jobs[0]`` on this thread and each other job on a thread of its own
    (:class:`Background`), each with ``threads`` torch threads (default
    :func:`member_threads`); return their results in order. An exception of ``jobs[0]``,
    else the first of another job, is raised here once every job has ended; this thread's
    torch thread count is restored."""
    if len(jobs) == 1:
        return [jobs[0]()]
    threads = member_threads(len(jobs)) if threads is None else threads
    others = Background(jobs[1:], threads, "semicl-side")
    try:
        with keeping_cpu_threads():
            set_cpu_threads(threads)
            first = jobs[0]()
    finally:
        others.join()
    others.raise_error()
    return [first, *others.results]  # type: ignore[list-item]
