"""Several networks trained side by side on the same data (``TrainConfig.members``).

Member ``i`` is :func:`semicl.training.pipeline.train` with seed ``config.seed + i``: its
own first weights, windows and augmentations, the same strokes. Member 0 trains on the
calling thread and its events are the ones yielded (progress, previews, the control's
``watch``); the others train on threads of their own (:mod:`semicl.parallel`), each with an
equal share of the torch threads. Stop reaches every member. A member that has finished
hands its threads on: the others take an equal share of the round's threads from the
step after its last one, a fixed step, so that a round repeats to the last bit
(:class:`ThreadShare`). The result is one :class:`TrainedModel` whose network
averages the members' probabilities (:class:`~semicl.models.ensemble.NetEnsemble`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Generator
from functools import partial

import torch

from semicl.config import TrainConfig
from semicl.device import set_cpu_threads
from semicl.events import ProgressEvent, drive, relay
from semicl.parallel import Background, keeping_cpu_threads, member_threads, round_threads
from semicl.training.control import TrainControl
from semicl.training.data import TrainingData
from semicl.training.pipeline import train
from semicl.training.trained_model import TrainedModel

#: seconds between two looks at the other members once member 0 has ended
POLL_S = 0.25


class ThreadShare:
    """The round's torch threads (``budget``; None = the calling thread's count; at least
    one per member, so a budget of 1 runs two members on two) shared out among the ``n``
    members (:func:`~semicl.parallel.member_threads`); with ``hand_on``, a member that has
    ended hands its threads to those still training.

    Handed on at a fixed step, so that a round repeats to the last bit: each member tells
    how far its fine-tuning runs (:meth:`told`, a
    :attr:`~semicl.training.control.TrainControl.on_length`: at least through a step, and
    its last step once decided), and after its step ``s`` takes the share of the members
    that run step ``s + 1`` (:meth:`apply`, a ``watch``), whatever the clock says. Where
    that is not known yet (another member has promised no step past ``s`` and not decided)
    it waits until it is; members keep pace, so it rarely does. ``hand_on`` False: a fixed
    share, no waiting. A member calls :meth:`finished` when its training has returned (any
    cause: a member that ends without telling its last step runs no further step).
    """

    def __init__(self, budget: int | None, n: int, hand_on: bool = True) -> None:
        self.budget = round_threads(budget, n)
        self.hand_on = hand_on
        self.at_least = [0] * n  # each member runs through this step (but for a stop)
        self.last: list[int | None] = [None] * n  # its last step, once decided
        self.gone = [False] * n  # its training has returned
        self._cond = threading.Condition()

    def _runs(self, j: int, step: int) -> bool | None:
        """Whether member ``j`` runs step ``step`` (None: not known yet)."""
        if self.last[j] is not None:
            return self.last[j] >= step
        if self.gone[j]:
            return False
        return True if self.at_least[j] >= step else None

    def share(self, index: int | None = None, step: int = 0) -> int:
        """Member ``index``'s threads for its step after ``step``, waiting until the
        others' part in it is known (None: a member's share while all train, the
        starting share)."""
        if not self.hand_on or index is None:
            return member_threads(len(self.last), self.budget)
        others = [j for j in range(len(self.last)) if j != index]
        with self._cond:
            self._cond.wait_for(lambda: all(self._runs(j, step + 1) is not None for j in others))
            running = 1 + sum(bool(self._runs(j, step + 1)) for j in others)
        return member_threads(running, self.budget)

    def told(self, index: int, at_least: int, last: int | None) -> None:
        """Member ``index`` runs through step ``at_least``; ``last``: its last step, once
        decided."""
        with self._cond:
            self.at_least[index] = at_least
            if last is not None:
                self.last[index] = last
            self._cond.notify_all()

    def finished(self, index: int) -> None:
        with self._cond:
            self.gone[index] = True
            self._cond.notify_all()

    def apply(self, index: int, step: int) -> None:
        """Set the calling thread's torch threads to member ``index``'s share after its
        ``step`` (on its own thread: torch's thread count is per thread)."""
        threads = self.share(index, step)
        if torch.get_num_threads() != threads:
            set_cpu_threads(threads)


def member_config(config: TrainConfig, index: int, threads: int | None) -> TrainConfig:
    """Member ``index``'s copy of ``config``: seed ``config.seed + index``, ``threads``
    torch threads, one network."""
    return dataclasses.replace(config, seed=config.seed + index, num_threads=threads,
                               members=1)


def _apply_share(share: ThreadShare, index: int, _net: object, step: int) -> None:
    """A ``watch``: member ``index`` takes its share of the threads after ``step``."""
    share.apply(index, step)


def _chain(first: Callable[..., None] | None, then: Callable[..., None]) -> Callable[..., None]:
    """``first`` (if any), then ``then``, with the same arguments."""
    if first is None:
        return then

    def both(*args: object) -> None:
        first(*args)
        then(*args)

    return both


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
    # after each fine-tuning step a member takes its share of the threads, and it tells
    # how far it runs; member 0 trains under the caller's control, chained for the round
    controls = [control] + [TrainControl(watch=partial(_apply_share, share, i),
                                         on_length=partial(share.told, i))
                            for i in range(1, n)]
    latest: list[object] = [None] * n  # each member's last event

    def job(i: int) -> Generator[object, None, TrainedModel]:
        return train(data, member_config(config, i, threads), init=inits[i],
                     pretrain=pretrain, control=controls[i])

    def pass_stop(_event: object = None) -> None:
        """Between member 0's steps: its stop reaches the others; their error ends it."""
        if control.stop_requested:
            for c in controls[1:]:
                c.request_stop()
        others.raise_error()

    caller = control.watch, control.on_length
    with keeping_cpu_threads():
        others = Background([partial(_drive_recording, job(i), latest, i, share)
                             for i in range(1, n)], threads, "semicl-member")
        control.watch = _chain(caller[0], partial(_apply_share, share, 0))
        control.on_length = _chain(caller[1], partial(share.told, 0))
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
            control.watch, control.on_length = caller
            for c in controls[1:]:  # a no-op after a normal end: they have all finished
                c.request_stop()
            others.join()
    others.raise_error()
    model = TrainedModel.average([model0, *others.results])
    return dataclasses.replace(
        model, config=dataclasses.replace(model.config, num_threads=config.num_threads,
                                          members=n))
