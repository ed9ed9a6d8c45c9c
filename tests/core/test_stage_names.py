"""Every list of stage, preset and local-mode names derives from ``Stage`` and the config's
constants (issue 11: one way to do each thing)."""

from __future__ import annotations

from semicl.stage import TRAINING_STAGES, Stage


def test_stage_values_are_the_saved_names():
    # history rows in checkpoints and session folders store these strings: never rename
    assert [s.value for s in Stage] == ["global", "local", "finetune", "predict", "first_look"]
    assert TRAINING_STAGES == (Stage.GLOBAL, Stage.LOCAL, Stage.FINETUNE)


def test_events_reexport_the_one_stage_enum():
    from semicl import events

    assert events.Stage is Stage


def _choices(parser, command: str, flag: str):
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return next(a for a in sub._actions if flag in a.option_strings).choices


def test_cli_choices_are_the_config_constants():
    from semicl.cli import build_parser
    from semicl.config import LOCAL_MODES, PRESETS

    parser = build_parser()
    for command in ("train", "demo"):
        assert list(_choices(parser, command, "--preset")) == list(PRESETS)
        assert list(_choices(parser, command, "--local-mode")) == list(LOCAL_MODES)


def test_cli_step_flags_follow_the_training_stages():
    from semicl.cli import build_parser, configure

    flags = [f"--{stage.value}-steps" for stage in TRAINING_STAGES]
    assert flags == ["--global-steps", "--local-steps", "--finetune-steps"]
    argv = ["demo", *(x for i, flag in enumerate(flags) for x in (flag, str(i + 7)))]
    cfg = configure(build_parser().parse_args(argv))
    assert [(st.steps, st.epochs) for st in cfg.stages().values()] == [(7, None), (8, None),
                                                                        (9, None)]


def test_pipeline_has_a_runner_for_each_configured_stage():
    from semicl.config import TrainConfig
    from semicl.training import stages
    from semicl.training.pipeline import STAGE_RUNNERS

    assert list(STAGE_RUNNERS) == list(TrainConfig().stages()) == list(TRAINING_STAGES)
    assert [fn.__name__ for fn in STAGE_RUNNERS.values()] == [
        "run_global", "run_local", "run_finetune"]
    assert all(getattr(stages, fn.__name__) is fn for fn in STAGE_RUNNERS.values())


def test_throughput_benchmark_times_each_configured_stage():
    import torch

    from benchmarks import throughput
    from semicl.config import FinetuneConfig, GlobalConfig, LocalConfig, ModelConfig, TrainConfig
    from semicl.training.data import TrainingData

    torch.manual_seed(0)
    cfg = TrainConfig(model=ModelConfig(base_width=4, depth=2, global_dim=8, local_dim=8),
                      global_stage=GlobalConfig(batch_size=4),
                      local_stage=LocalConfig(batch_size=2, max_anchors=32),
                      finetune=FinetuneConfig(batch_size=2))
    images = torch.rand(4, 1, 16, 16)
    targets = (images[:, 0] > 0.5).long()
    data = TrainingData(images, images, targets, ["background", "bright"])
    for stage in cfg.stages():
        rate, per_step, first = throughput.time_stage(stage, cfg, data, torch.device("cpu"),
                                                      variant="fp32", warmup=1, steps=1,
                                                      batch_size=0)
        assert rate > 0 and per_step > 0 and first > 0, stage
