"""Several networks trained side by side on the same data (``TrainConfig.members``).

Member ``i`` is :func:`semicl.training.pipeline.train` with seed ``config.seed + i``: its
own first weights, windows and augmentations, the same strokes. Member 0 trains on the
calling thread and its events are the ones yielded (progress, previews, the control's
``watch``); the others train on threads of their own (:mod:`semicl.parallel`), each with an
equal share of the torch threads. Stop reaches every member. A member that has finished
hands its threads on: the others take an equal share of the round's threads from their
next step on (:class:`ThreadShare`). The result is one :class:`TrainedModel` whose network
averages the members' probabilities (:class:`~semicl.models.ensemble.NetEnsemble`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from functools import partial

import torch

from semicl.config import TrainConfig
from semicl.device import set_cpu_threads
from semicl.events import ProgressEvent, drive, relay
from semicl.parallel import Background, keeping_cpu_threads, member_threads
from semicl.training.control import TrainControl
from semicl.training.data import TrainingData
from semicl.training.pipeline import train
from semicl.training.trained_model import TrainedModel

#: seconds between two looks at the other members once member 0 has ended
POLL_S = 0.25


class ThreadShare:
    """The round's torch threads (``budget``; None = the calling thread's count; at least
    one per member, so a budget of 1 runs two members on two) shared out among the ``n``
    members still training: :func:`~semicl.parallel.member_threads` of those running
    (``hand_on`` False: of all ``n``). A member calls :meth:`apply` between its steps, on
    its own thread (torch's thread count is per thread), and :meth:`finished` when it ends."""

    def __init__(self, budget: int | None, n: int, hand_on: bool = True) -> None:
        budget = torch.get_num_threads() if budget is None else int(budget)
        self.budget = max(budget, n)
        self.running = [True] * n
        self.hand_on = hand_on

    def share(self) -> int:
        running = sum(self.running) if self.hand_on else len(self.running)
        return member_threads(running, self.budget)

    def finished(self, index: int) -> None:
        self.running[index] = False

    def apply(self, _net: object = None, _step: object = None) -> None:
        """Set the calling thread's torch threads to the current share (a ``watch``)."""
        threads = self.share()
        if torch.get_num_threads() != threads:
            set_cpu_threads(threads)


def member_config(config: TrainConfig, index: int, threads: int | None) -> TrainConfig:
    """Member ``index``'s copy of ``config``: seed ``config.seed + index``, ``threads``
    torch threads, one network."""
    return dataclasses.replace(config, seed=config.seed + index, num_threads=threads,
                               members=1)


def _drive_recording(gen: Generator[object, None, TrainedModel], latest: list[object],
                     index: int, share: ThreadShare) -> TrainedModel:
    """Run a member's training to its end, keeping its last event in ``latest[index]``;
    ``share`` learns when it has ended."""
    try:
        return drive(gen, lambda ev: latest.__setitem__(index, ev))
    finally:
        share.finished(index)


def train_members(
    data: TrainingData,
    config: TrainConfig,
    *,
    init: TrainedModel | None = None,
    pretrain: bool = True,
    control: TrainControl | None = None,
) -> Generator[object, None, TrainedModel]:
    """Train ``config.members`` networks on ``data`` side by side; yield member 0's events,
    then (while the others finish) an unfinished member's progress without its loss; return
    their average.

    With ``init`` (a Retrain), member ``i`` warm-starts from ``init``'s network
    ``i`` (modulo its count: a single network seeds them all). A stop request ends every
    member after its current step; closing the generator stops them too and waits for
    them; an error in any member ends the others and is raised. One member is exactly
    :func:`~semicl.training.pipeline.train`.
    """
    n = config.members
    if n == 1:
        return (yield from train(data, config, init=init, pretrain=pretrain, control=control))
    control = control if control is not None else TrainControl()
    share = ThreadShare(config.num_threads, n, hand_on=config.share_threads)
    threads = share.share()  # each member's to start with
    inits = [None if init is None else init.member(i % len(init.members)) for i in range(n)]
    # the others' watch takes their share of the threads after each fine-tuning step
    controls = [control] + [TrainControl(watch=share.apply) for _ in range(1, n)]
    latest: list[object] = [None] * n  # each member's last event

    def job(i: int) -> Generator[object, None, TrainedModel]:
        return train(data, member_config(config, i, threads), init=inits[i],
                     pretrain=pretrain, control=controls[i])

    def pass_stop(_event: object = None) -> None:
        """Between member 0's steps: its stop reaches the others; their error ends it;
        it takes its share of the threads."""
        if control.stop_requested:
            for c in controls[1:]:
                c.request_stop()
        others.raise_error()
        if share.running[0]:
            share.apply()

    with keeping_cpu_threads():
        others = Background([partial(_drive_recording, job(i), latest, i, share)
                             for i in range(1, n)], threads, "semicl-member")
        try:
            first = job(0)
            try:
                model0 = yield from relay(first, pass_stop)
            finally:
                share.finished(0)
                first.close()  # its finally blocks run now when another member's error ends it
            shown = None
            while alive := others.alive():
                pass_stop()
                others.join(alive[0], POLL_S)
                ev = latest[alive[0] + 1]
                if isinstance(ev, ProgressEvent) and ev is not shown:
                    shown = ev
                    yield dataclasses.replace(
                        ev, loss=None, message=f"waiting for the other {n - 1} network(s)")
        finally:
            for c in controls[1:]:  # a no-op after a normal end: they have all finished
                c.request_stop()
            others.join()
    others.raise_error()
    model = TrainedModel.average([model0, *others.results])
    return dataclasses.replace(
        model, config=dataclasses.replace(model.config, num_threads=config.num_threads,
                                          members=n))
