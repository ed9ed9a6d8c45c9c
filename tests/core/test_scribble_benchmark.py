"""Fast tests of the scribble benchmark's helpers (benchmarks/scribble*.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import scribble_report
from benchmarks.scribble_cases import Case
from benchmarks.scribbles import apply_overrides
from semicl.config import preset


def test_overrides_set_typed_fields_and_refuse_unknown_ones():
    cfg = apply_overrides(preset("quick"), ["finetune.background_prior=0.2", "local.mode=\"block\"",
                                            "finetune.stroke_min_steps=10", "augment=False"])
    assert cfg.finetune.background_prior == 0.2 and cfg.local_stage.mode == "block"
    assert cfg.finetune.stroke_min_steps == 10 and isinstance(cfg.finetune.stroke_min_steps, int)
    assert cfg.augment is False
    with pytest.raises(SystemExit, match="no field"):
        apply_overrides(preset("quick"), ["finetune.nope=1"])


def test_case_scores_only_unpainted_slices_and_counts_false_positives():
    mask = np.zeros((4, 6, 6), np.uint8)
    mask[:2, 1:3, 1:3] = 1
    case = Case("t", np.zeros(mask.shape), mask, ["bg", "a"], 0, np.array([0]),
                np.zeros_like(mask))
    pred = mask.copy()
    assert case.dice(pred) == [1.0] and case.volume_ratio(pred) == [1.0]
    pred[3, 4:6, 4:6] = 1  # a false positive on a slice without structure counts
    assert case.dice(pred)[0] == pytest.approx(2 * 4 / (8 + 4)) and case.volume_ratio(pred) == [2.0]
    pred[0] = 0  # the painted slice is not scored
    assert case.volume_ratio(pred) == [2.0]


def test_errors_are_split_by_the_zone_on_unpainted_slices():
    mask = np.zeros((3, 4, 4), np.uint8)
    mask[:, 1:3, 1:3] = 1  # 4 voxels a slice, 8 on the two scored slices
    case = Case("t", np.zeros(mask.shape), mask, ["bg", "a"], 0, np.array([0]),
                np.zeros_like(mask))
    zone = np.zeros(mask.shape, bool)
    zone[:, :, :2] = True  # half of the structure inside
    pred = mask.copy()
    pred[1, 1, 1] = 0  # missed inside the zone
    pred[2, 1:3, 2] = 0  # two missed outside
    pred[2, 0, 3] = pred[2, 3, 3] = pred[1, 0, 0] = 1  # two false positives outside, one in
    pred[0] = 0  # the painted slice is not scored
    got = case.errors_by_zone(pred, zone)
    assert got == [{"true_in": 0.5, "fp_in": 0.125, "fp_out": 0.25, "fn_in": 0.125,
                    "fn_out": 0.25}]


def test_whole_slices_paint_the_chosen_slices_completely_and_are_scored_apart():
    mask = np.zeros((4, 5, 5), np.uint8)
    mask[1:3, 1:3, 1:4] = 1
    mask[1, 4, 4] = 2
    strokes = np.zeros_like(mask)
    strokes[1, 2, 2] = 2
    case = Case("t", np.zeros(mask.shape), mask, ["bg", "a", "b"], 0, np.array([1, 3]),
                strokes)
    whole = case.whole_slices()
    assert np.array_equal(whole[[1, 3]], mask[[1, 3]] + 1)  # background 1, class c -> c + 1
    assert not whole[[0, 2]].any()
    assert case.scribbles is strokes and strokes.sum() == 2  # the case's own strokes untouched
    pred = mask.copy()
    pred[2] = 0  # an unpainted slice wrong: the painted score does not see it
    assert case.dice_painted(pred) == [1.0, 1.0] and case.dice(pred)[0] < 1.0
    pred[1, 1, 1] = 0
    assert case.dice_painted(pred)[0] == pytest.approx(2 * 5 / (5 + 6))


def _row(label, seed, forest, curve, rounds=()):
    net = [{"dice": [curve[-1][1]], "mean": curve[-1][1], "seconds": curve[-1][0],
            "curve": curve, "first_overlay_s": 2.0}]
    net += [{"dice": [d], "mean": d, "seconds": 10.0, "curve": [[10.0, d]]} for d, _ in rounds]
    fo = [{"dice": [forest], "mean": forest, "seconds": 1.0}]
    fo += [{"dice": [f], "mean": f, "seconds": 1.0} for _, f in rounds]
    return {"case": "msd:x:k3", "seed": seed, "label": label, "classes": ["a"],
            "network": net, "forest": fo}


def test_report_reads_when_the_network_passes_the_forest(tmp_path):
    assert scribble_report.passes_at([[5, 0.2], [10, 0.5]], 0.4) == 10.0
    assert scribble_report.passes_at([[5, 0.2]], 0.4) is None
    rows = [_row("v", 0, 0.3, [[5, 0.2], [10, 0.5]], rounds=[(0.6, 0.4)]),
            _row("v", 1, 0.3, [[5, 0.1]], rounds=[(0.7, 0.5)]),
            _row("v", 1, 0.3, [[5, 0.4]], rounds=[(0.8, 0.5)])]  # a rerun replaces seed 1
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    md = scribble_report.write_report(tmp_path)
    line = next(x for x in md.splitlines() if x.startswith("| v | msd:x:k3"))
    assert "| 0,1 |" in line and "10, 5" in line and "0.700 ± 0.100 / 0.450 ± 0.050" in line
    assert (tmp_path / "curves.png").is_file() and (tmp_path / "report.md").is_file()


def test_slice_brightness_maps_each_slice_to_the_volume_statistics():
    from benchmarks.slice_brightness import standardised

    rng = np.random.default_rng(0)
    base = rng.random((4, 3, 5)).astype(np.float32)
    vol = base * np.array([1.0, 0.5, 2.0])[None, :, None] + np.array([0, 3.0, -1.0])[None, :, None]
    out = standardised(vol, axis=1)  # slices along axis 1 differ by an affine map of grey levels
    assert out.shape == vol.shape
    for z in range(3):
        sl = out[:, z]
        assert sl.mean() == pytest.approx(vol.mean(), abs=1e-5)
        assert sl.std() == pytest.approx(vol.std(), rel=1e-5)
    # within a slice only the grey levels' scale and offset change
    assert np.corrcoef(out[:, 1].ravel(), base[:, 1].ravel())[0, 1] == pytest.approx(1.0)


def test_tta_probe_views_warp_back_onto_the_slice():
    """benchmarks/tta_probe.py: a view and its inverse bring an image back (inside what the
    view saw); the image-as-it-is view alone is the network's own softmax; a per-pixel
    network (1x1 conv) gives the same answer through every view where they overlap."""
    import torch

    from benchmarks.tta_probe import ViewAverage, inverse_theta, view_theta, warp

    yy, xx = np.mgrid[:40, :56].astype(np.float32)
    image = np.sin(yy / 5) + np.cos(xx / 7)
    x = torch.from_numpy(image)[None, None]
    theta = view_theta(10.0, 0.9, 40, 56)
    back = warp(warp(x, theta), inverse_theta(theta))
    middle = (slice(12, 28), slice(16, 40))
    torch.testing.assert_close(back[0, 0][middle], x[0, 0][middle], atol=0.05, rtol=0)

    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 3, 1)
    slices = torch.from_numpy(image[None].repeat(2, 0))[:, None]

    def view_probs(views):
        with torch.no_grad():
            return torch.softmax(ViewAverage(net, views)(slices), 1).numpy()

    with torch.no_grad():
        own = torch.softmax(net(slices), 1).numpy()
    np.testing.assert_allclose(view_probs([(0.0, 1.0)]), own, rtol=1e-5)
    views = view_probs([(0.0, 1.0), (-10.0, 1.0), (10.0, 1.0)])
    np.testing.assert_allclose(views[..., 12:28, 16:40], own[..., 12:28, 16:40], atol=0.02)


def test_round_speed_splits_a_round_by_stage():
    from benchmarks.round_speed import by_stage, timed_round
    from semicl.scribbles import user_strokes

    rng = np.random.default_rng(0)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 10:24] = 1
    image = (mask * 0.6 + rng.normal(0, 0.1, mask.shape)).astype(np.float32)
    cfg = apply_overrides(preset("quick"), ["members=1", "global_stage.enabled=False",
                                            "local_stage.enabled=False"])
    cfg.finetune.set_steps(4)
    timed, result = timed_round(image, user_strokes(mask, rng), ["background", "a"], 0, cfg)
    stages = timed["stages"]
    assert list(stages) == ["finetune", "predict"] and stages["finetune"]["steps"] == 4
    assert sum(v["s"] for v in stages.values()) <= timed["seconds"] + 0.1
    assert result.mask.shape == mask.shape
    assert by_stage(timed).startswith("finetune ") and "(4 steps)" in by_stage(timed)
    assert by_stage({"seconds": 1.0}) == "–"  # a row written before the split


def test_a_round_counts_the_steps_of_its_longest_network(monkeypatch):
    import benchmarks.scribbles as bench
    from semicl.events import ProgressEvent, Stage

    def two_networks(*args, **kwargs):
        # member 0's events, then the other member's while it finishes (or the other way)
        for step in (100, 600, 450, 900, 300):
            yield ProgressEvent(Stage.FINETUNE, step, 900)
        yield ProgressEvent(Stage.PREDICT, 91, 91)
        return "result"

    monkeypatch.setattr(bench, "training_round", two_networks)
    steps, ends = {}, {}
    ticks = iter(range(100))
    result, first = bench.plugin_round(None, None, [], 0, None, None, None,
                                       clock=lambda: next(ticks), steps=steps, ends=ends)
    assert result == "result" and first is None
    assert steps == {"finetune": 900, "predict": 91}
    assert ends == {"finetune": 4, "predict": 5}  # the clock at each stage's last event


def test_predict_speed_times_each_batch_size_on_the_same_networks():
    from benchmarks.predict_speed import ensemble, timed

    net = ensemble(3)
    image = np.random.default_rng(0).normal(size=(5, 24, 24)).astype(np.float32)
    _, whole, batches = timed(net, image, 0, None)
    _, pairs, halves = timed(net, image, 0, 2)
    assert (batches, halves) == (1, 3) and whole.shape == (3, 5, 24, 24)
    np.testing.assert_allclose(whole, pairs, atol=1e-6)  # the same networks, the same answer
