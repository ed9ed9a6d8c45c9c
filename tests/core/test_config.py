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
    from semicl.stage import TRAINING_STAGES, Stage

    cfg = preset("quick")
    stages = cfg.stages()
    assert list(stages) == list(TRAINING_STAGES) == ["global", "local", "finetune"]
    assert all(type(key) is Stage for key in stages)
    assert stages[Stage.GLOBAL] is cfg.global_stage and stages[Stage.LOCAL] is cfg.local_stage
    assert stages[Stage.FINETUNE] is cfg.finetune  # the live objects: edits reach the config
    assert stages["finetune"] is cfg.finetune  # a member hashes as its value


def test_unknown_preset_names_the_presets():
    from semicl.config import PRESETS

    with pytest.raises(SemiclError) as err:
        preset("fast")
    assert str(err.value) == "Unknown preset 'fast'; choose 'quick' or 'paper'."
    assert all(repr(name) in str(err.value) for name in PRESETS)


def test_finetune_reads_strokes_from_the_share_painted():
    import torch

    from semicl.config import FinetuneConfig

    ft = FinetuneConfig()
    dense = torch.zeros(2, 8, 8, dtype=torch.int64)
    lines = torch.full((2, 8, 8), -1, dtype=torch.int64)
    lines[:, 3] = 1
    assert ft.labels == "auto" and not ft.from_strokes(dense) and ft.from_strokes(lines)
    assert FinetuneConfig(labels="dense").from_strokes(lines) is False
    assert FinetuneConfig(labels="strokes").from_strokes(dense) is True
    with pytest.raises(SemiclError, match="labels must be one of"):
        FinetuneConfig(labels="lines").validate("fine-tuning")
    with pytest.raises(SemiclError, match="affinity_radius"):
        FinetuneConfig(affinity_radius=0).validate("fine-tuning")


def test_stroke_floor_lengthens_preset_fine_tuning_only_from_strokes():
    import torch

    from semicl.training.stages import finetune_steps

    cfg = preset("quick").finetune
    lines = torch.full((3, 8, 8), -1, dtype=torch.int64)
    lines[:, 2] = 1
    dense = torch.zeros(3, 8, 8, dtype=torch.int64)
    assert finetune_steps(cfg, dense) == cfg.resolved_steps(3) == 150
    assert finetune_steps(cfg, lines) == cfg.stroke_min_steps == 300
    cfg.set_steps(20)  # an explicit length (first look, tests) is kept
    assert finetune_steps(cfg, lines) == 20


def test_a_warm_retrain_has_its_own_floor():
    import torch

    from semicl.training.stages import finetune_steps

    cfg = preset("quick").finetune
    lines = torch.full((3, 8, 8), -1, dtype=torch.int64)
    lines[:, 2] = 1
    dense = torch.zeros(3, 8, 8, dtype=torch.int64)
    assert finetune_steps(cfg, lines, fresh=False) == cfg.retrain_min_steps == 150
    assert finetune_steps(cfg, lines, fresh=True) == cfg.stroke_min_steps == 300
    assert finetune_steps(cfg, dense, fresh=False) == 150  # dense labels: the preset's own
    cfg.retrain_min_steps = 200
    assert finetune_steps(cfg, dense, fresh=False) == 150
    assert finetune_steps(cfg, lines, fresh=False) == 200
    cfg.set_steps(20)  # an explicit length is kept
    assert finetune_steps(cfg, lines, fresh=False) == 20


def test_model_norm_is_validated():
    from semicl.config import ModelConfig, TrainConfig
    cfg = TrainConfig(model=ModelConfig(norm="layer"))
    with pytest.raises(SemiclError, match="norm"):
        cfg.validate()
    round_trip = TrainConfig.from_dict(TrainConfig(model=ModelConfig(norm="batch")).to_dict())
    assert round_trip.model.norm == "batch"


def test_auto_norm_is_batch_only_for_windows_of_larger_slices():
    from semicl.config import ModelConfig
    cfg = TrainConfig(patch_size=96)
    assert cfg.model.norm == "auto"
    assert cfg.resolved_norm(181, 217) == "batch"
    assert cfg.resolved_norm(48, 40) == "instance"  # MSD slices: no windows
    assert TrainConfig().resolved_norm(512, 512) == "instance"  # no patch_size
    assert TrainConfig(model=ModelConfig(norm="instance"), patch_size=96).resolved_norm(
        512, 512) == "instance"
    old = TrainConfig().to_dict()
    del old["model"]["norm"]  # a checkpoint from before the field: instance-normed
    assert TrainConfig.from_dict(old).model.norm == "instance"


def test_finetune_geometry_is_a_config_field_that_old_configs_lack():
    import json

    from semicl.config import FinetuneConfig

    cfg = preset("quick")
    assert cfg.finetune.geometry() == {"scale": (0.9, 1.1), "rotation_deg": 10.0,
                                       "crop": (0.8, 1.0)}
    cfg.finetune.scale, cfg.finetune.crop = (0.7, 1.3), (0.6, 1.0)
    from_json = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))  # lists in JSON
    assert from_json == cfg and from_json.finetune.scale == (0.7, 1.3)
    old = TrainConfig().to_dict()
    for key in ("scale", "rotation_deg", "crop"):
        del old["finetune"][key]  # a checkpoint or session from before the fields
    assert TrainConfig.from_dict(old).finetune.geometry() == FinetuneConfig().geometry()


@pytest.mark.parametrize("field, value", [("scale", (1.2, 0.9)), ("crop", (0.5, 1.5)),
                                          ("rotation_deg", -1.0), ("scale", (1.0,))])
def test_finetune_geometry_is_validated(field, value):
    cfg = preset("quick")
    setattr(cfg.finetune, field, value)
    with pytest.raises(SemiclError, match="fine-tuning: scale"):
        cfg.validate()
