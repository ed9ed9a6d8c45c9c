import math

import pytest

from semicl.config import PRESETS, TrainConfig, preset
from semicl.errors import SemiclError


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trip(name):
    cfg = preset(name)
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg


def test_unknown_preset_and_keys():
    with pytest.raises(SemiclError, match="Unknown preset"):
        preset("fast")
    with pytest.raises(SemiclError, match="Unknown configuration keys"):
        TrainConfig.from_dict({"learning_rate": 1})


def test_invalid_values():
    cfg = preset("quick")
    cfg.local_stage.mode = "grid"
    with pytest.raises(SemiclError, match="mode"):
        cfg.validate()
    cfg = preset("quick")
    cfg.finetune.lr = 0
    with pytest.raises(SemiclError, match="lr"):
        cfg.validate()


def test_epochs_override_steps():
    cfg = preset("paper")
    assert cfg.finetune.resolved_steps(80) == 120 * 80 // 8
    cfg.finetune.epochs = None
    assert cfg.finetune.resolved_steps(80) == cfg.finetune.steps


def test_batches_shrink_on_tiny_data():
    cfg = preset("quick")
    ft = cfg.finetune  # batch 16
    assert ft.resolved_batch(1000) == 16
    assert ft.resolved_batch(10) == 10
    assert ft.resolved_batch(3) == 4  # three painted slices: batch 4, not 16 repeats
    # epochs count in resolved batches; the floor still decides on tiny data
    assert ft.resolved_steps(556) == math.ceil(16 * 556 / 16)
    assert ft.resolved_steps(3) == ft.min_steps


def test_stages_by_name_in_pipeline_order():
    cfg = preset("quick")
    stages = cfg.stages()
    assert list(stages) == ["global", "local", "finetune"]
    assert stages["global"] is cfg.global_stage and stages["local"] is cfg.local_stage
    assert stages["finetune"] is cfg.finetune  # the live objects: edits reach the config
