"""The one generator driver (semicl.events.drive) and its re-yielding form (relay)."""

from __future__ import annotations

import pytest

from semicl.events import drive, relay


def _job(n: int, result: str = "done"):
    for i in range(n):
        yield i
    return result


def test_drive_returns_the_generators_value_and_hands_over_every_event():
    seen = []
    assert drive(_job(3), seen.append) == "done"
    assert seen == [0, 1, 2]


def test_drive_without_a_callback_and_an_empty_generator():
    assert drive(_job(5)) == "done"
    assert drive(_job(0, result=None)) is None


def test_drive_lets_the_callback_steer_the_generator():
    stop = []

    def job():
        step = 0
        while not stop:
            step += 1
            yield step
        return step

    def on_event(step):
        if step == 4:
            stop.append(True)

    assert drive(job(), on_event) == 4


def test_errors_from_the_generator_and_the_callback_propagate():
    def failing():
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        drive(failing())

    def refuse(_event):
        raise RuntimeError("no")

    cleaned = []

    def job():
        try:
            yield from _job(3)
        finally:
            cleaned.append(True)

    gen = job()
    with pytest.raises(RuntimeError, match="no"):
        drive(gen, refuse)
    assert cleaned == [True]  # the abandoned generator was closed: its finally ran
    with pytest.raises(StopIteration):
        next(gen)


def test_relay_passes_events_on_after_the_callback_and_returns_the_value():
    log = []

    def outer():
        value = yield from relay(_job(2, "inner"), lambda e: log.append(("seen", e)))
        return value + "!"

    assert drive(outer(), lambda e: log.append(("passed", e))) == "inner!"
    assert log == [("seen", 0), ("passed", 0), ("seen", 1), ("passed", 1)]
