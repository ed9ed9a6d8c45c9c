"""Every list of stage, preset and local-mode names derives from ``Stage`` and the config's
constants (issue 11: one way to do each thing)."""

from __future__ import annotations

from semicl.stage import TRAINING_STAGES, Stage


def test_stage_values_are_the_saved_names():
    # history rows in checkpoints and session folders store these strings: never rename
    assert [s.value for s in Stage] == ["global", "local", "finetune", "predict", "first_look"]
    assert TRAINING_STAGES == (Stage.GLOBAL, Stage.LOCAL, Stage.FINETUNE)


def test_events_reexport_the_one_stage_enum():
    from semicl.training import events

    assert events.Stage is Stage
