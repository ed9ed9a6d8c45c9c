"""Fast tests of the label-efficiency benchmark's helpers (benchmarks/le_*.py)."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from benchmarks import le_data, le_methods, le_report
from semicl.labels import scribbles_to_targets


# ----------------------------------------------------------------------------- strokes
def _two_class_slice(h=64, w=48):
    sl = np.zeros((h, w), np.uint8)
    sl[10:30, 12:30] = 1
    sl[30:50, 14:32] = 2
    return sl


def test_slice_strokes_paint_each_class_inside_its_region():
    sl = _two_class_slice()
    s = le_data.slice_strokes(sl, 0.02, np.random.default_rng(1))
    for k in (1, 2):
        assert (s == k + 1).any() and (sl[s == k + 1] == k).all()
    assert (s == 1).any() and (sl[s == 1] == 0).all()  # background strokes off structures
    share = (s > 0).mean()
    assert 0.005 < share < 0.04  # about the asked 2 %, not random pixels everywhere
    # strokes are lines, not scattered pixels: few connected pieces per class
    for v in (2, 3):
        assert ndi.label(s == v, structure=np.ones((3, 3)))[1] == 1


def test_slice_without_structure_gets_background_only():
    s = le_data.slice_strokes(np.zeros((32, 32), np.uint8), 0.01, np.random.default_rng(0))
    assert set(np.unique(s)) == {0, 1} and (s == 1).sum() >= 3


def test_scribble_strokes_along_an_axis_and_deterministic_transform():
    vol = np.stack([_two_class_slice(40, 30)] * 5, axis=1)  # slices along axis 1
    s = le_data.scribble_strokes(vol, axis=1, fraction=0.01, rng=np.random.default_rng(0))
    assert s.shape == vol.shape and s.dtype == np.uint8
    assert all((s[:, i] > 0).any() for i in range(5))
    assert ((s == 0) | (vol == scribbles_to_targets(s))).all()  # painted class == mask class
    tf = le_data.sparse_transform(3, 1, 0.01)
    other = np.zeros_like(vol)
    other[5:9, :, 5:9] = 1
    a = tf(vol)
    tf(other)  # another volume in between must not change the strokes of the first
    np.testing.assert_array_equal(a, tf(vol))


# ----------------------------------------------------------------------------- store
def _row(method="random", fraction=0.05, seed=0, device="cpu (X, 2 cores)", dice=0.8, **kw):
    r = {"dataset": "hippocampus", "protocol": "dense", "method": method, "fraction": fraction,
         "seed": seed, "preset": "cpu", "device": device, "n_labelled": 8,
         "dice_pooled": [dice - 0.01, dice + 0.01], "dice_pooled_mean": dice,
         "dice_per_volume": [dice - 0.02, dice], "dice_per_volume_mean": dice - 0.01,
         "wall_s": 120.0, "global_s": 0.0, "n_test": 44, "class_names": ["bg", "A", "P"],
         "stages": {"finetune": {"s_per_step": 0.1, "peak_mb": 500.0}},
         "machine": {"platform": "Linux", "processor": "X", "cores": 2}}
    r.update(kw)
    return r


def test_results_append_resume_and_merge(tmp_path):
    path = tmp_path / "r.jsonl"
    le_report.append_result(path, _row())
    le_report.append_result(path, _row(method="rf", dice=0.5))
    le_report.append_result(path, _row(dice=0.9))  # same key again: the later wins
    with open(path, "a") as f:
        f.write('{"dataset": "hippocampus", "protocol"')  # torn line of a killed run
    rows = le_report.load_results(path)
    assert len(rows) == 2
    assert {r["method"]: r["dice_pooled_mean"] for r in rows} == {"random": 0.9, "rf": 0.5}
    keys = le_report.done_keys(rows)
    assert le_report.row_key(_row(fraction=0.05000000001, dice=0.1)) in keys  # float noise
    assert le_report.row_key(_row(seed=1)) not in keys
    assert le_report.row_key(_row(device="cuda (H100)")) not in keys
    other = [_row(device="cuda (H100)"), _row(method="rf", dice=0.55)]
    merged = le_report.merge_results(rows, other)
    assert len(merged) == 3
    assert [r["dice_pooled_mean"] for r in merged if r["method"] == "rf"] == [0.55]
    le_report.write_jsonl(path, merged)
    assert len(le_report.load_results(path)) == 3


def test_tables_mean_sd_per_method_and_fraction_and_devices_apart():
    rows = [_row(seed=0, dice=0.80), _row(seed=1, dice=0.84), _row(fraction=0.1, dice=0.85),
            _row(method="global+local-exact", dice=0.86), _row(method="rf", dice=0.5),
            _row(device="cuda (H100)", dice=0.7)]
    groups = le_report.groups(rows)
    assert len(groups) == 2  # one group per device
    cpu = groups[("hippocampus", "dense", "cpu", "cpu (X, 2 cores)")]
    table = le_report.metric_table(cpu, "dice_pooled_mean")
    lines = table.splitlines()
    assert lines[0] == "| method | 5% | 10% |"
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == \
        ["random", "**global+local-exact** (ours)", "rf"]  # engine order, rf last
    # cells without all of the table's seeds (0, 1) name theirs
    assert "0.820 ± 0.028 (n=2) |" in lines[2] and "0.850 (n=1; seed 0)" in lines[2]
    assert lines[3].endswith("| 0.860 (n=1; seed 0) | — |")
    assert "| random | 0.810 / 0.830 | 0.840 / 0.860 |" in le_report.class_table(cpu)
    assert "| random | 3 | 2.0 |" in le_report.cost_table(cpu)
    verdict = le_report.goal_lines(cpu)
    assert verdict[0].startswith("- 5%: ours 0.860 meets the goal 0.85")
    assert "ours is above it" in verdict[0]
    assert "no `global+local-exact` run yet" in verdict[1]
    assert le_report.fmt_cell(float("nan"), None, 0) == "—"
    m, sd = le_report.mean_sd([1.0, float("nan"), 3.0])
    assert m == 2.0 and math.isclose(sd, math.sqrt(2))


GPU = {"preset": "paper+global1909+local403+finetune1560", "device": "cuda (NVIDIA H200)"}


def test_gpu_rows_never_share_a_table_or_plot_with_cpu_rows(tmp_path):
    """The H200 rows (their own preset label and device) get their own section, tables and
    plot; the CPU section reads the same with or without them (same method, fraction, seed)."""
    cpu = [_row(seed=s, dice=0.80 + 0.01 * s) for s in (0, 1, 2)] + \
        [_row(method="global+local-exact", seed=s, dice=0.79) for s in (0, 1, 2)]
    gpu = [_row(dice=0.834, **GPU), _row(method="global+local-exact", dice=0.839, **GPU),
           _row(method="global", seed=1, dice=0.824, **GPU),
           _row(dice=0.834, preset="cpu", device=GPU["device"]),  # same device, other preset
           _row(dice=0.70, preset=GPU["preset"], device="cpu (X, 2 cores)")]  # and vice versa
    keys = list(le_report.groups(cpu + gpu))
    assert len(keys) == 4 and ("hippocampus", "dense", GPU["preset"], GPU["device"]) in keys
    alone = le_report.render(cpu, tmp_path / "p1", tmp_path)
    both = le_report.render(gpu + cpu, tmp_path / "p2", tmp_path)
    sections = {s.splitlines()[0]: s for s in ("\n" + both).split("\n### ")[1:]}
    cpu_head = "hippocampus · dense · preset `cpu` · cpu (X, 2 cores)"
    gpu_head = f"hippocampus · dense · preset `{GPU['preset']}` · {GPU['device']}"
    assert set(sections) >= {cpu_head, gpu_head} and len(sections) == 4
    assert sections[cpu_head].replace("p2/", "p1/").strip() == alone[4:].strip()
    g = sections[gpu_head].splitlines()
    table = g[g.index("| method | 5% |"):][:5]
    assert table[2:] == ["| random | 0.834 (n=1; seed 0) |", "| global | 0.824 (n=1; seed 1) |",
                         "| **global+local-exact** (ours) | 0.839 (n=1; seed 0) |"]
    assert "0.79" not in sections[gpu_head] and "0.839" not in sections[cpu_head]
    assert "| global | — |" in sections[gpu_head]  # seed 1 has no random run to pair with
    assert le_report.seeds_of(gpu[2:3], [0, 1]) == "seed 1"  # its plot legend says so too
    assert le_report.seeds_of(cpu, [0, 1, 2]) == ""
    assert len(list((tmp_path / "p2").glob("*.png"))) == 4
    assert len(list((tmp_path / "p2").glob("*cuda_NVIDIA_H200.png"))) == 2


def test_paired_gain_pairs_runs_of_the_same_seed():
    rows = [_row(seed=0, dice=0.80), _row(seed=1, dice=0.70), _row(seed=2, dice=0.90),
            _row(method="global+local-exact", seed=0, dice=0.83),
            _row(method="global+local-exact", seed=1, dice=0.71),
            _row(method="global+local-exact", seed=5, dice=0.99),  # no random run: unpaired
            _row(method="rf", fraction=0.1, dice=0.5)]
    lines = le_report.paired_table(rows).splitlines()
    assert lines[0] == "| method − random | 5% | 10% |"
    # (0.03 + 0.01) / 2 = +0.020, sd of (0.03, 0.01) = 0.014; seed 5 is left out
    assert lines[2] == "| global+local-exact | +0.020 ± 0.014 (n=2) | — |"
    assert lines[3] == "| rf | — | — |"  # no random run at 10%


def test_within_volume_columns_name_the_slices():
    rows = [_row(fraction=round(4 / 181, 4), n_labelled=4) | {"dataset": "colin27"}]
    assert le_report.metric_table(rows, "dice_pooled_mean").splitlines()[0] == \
        "| method | 4 sl. (2.2%) |"


def test_report_csv_plot_and_doc_markers(tmp_path):
    rows = [_row(), _row(method="rf", fraction=0.1, dice=0.5)]
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text(f"# B\n\nintro\n\n{le_report.BEGIN}\nold\n{le_report.END}\n\ntail\n")
    body = le_report.render(rows, tmp_path / "plots", doc.parent)
    le_report.update_doc(doc, body)
    text = doc.read_text()
    assert text.startswith("# B\n\nintro") and text.rstrip().endswith("tail")
    assert "old" not in text and "![Dice vs labelled fraction](../plots/" in text
    assert len(list((tmp_path / "plots").glob("*.png"))) == 1
    le_report.write_csv(tmp_path / "r.csv", rows)
    head = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert head[:7] == list(le_report.KEY_FIELDS)
    assert "dice_pooled_1" in head and "stages.finetune.s_per_step" in head


# ----------------------------------------------------------------------------- methods
def _blob_volume(seed=0, n=6, size=32):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    img = rng.normal(0.2, 0.05, (n, size, size)).astype(np.float32)
    mask = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(10, size - 10, 2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < 36
        mask[i][disk] = 1
        mask[i][disk & (xx > cx)] = 2
        img[i][mask[i] == 1] += 0.5
        img[i][mask[i] == 2] += 0.9
    return img, mask


def test_random_forest_baseline_and_scoring_on_a_tiny_volume():
    img, mask = _blob_volume(0)
    targets = np.full(mask.shape, -1, np.int64)
    targets[:2] = mask[:2]  # two labelled slices
    clf = le_methods.rf_fit([(img, targets)], axis=0, seed=0, max_per_class=500, trees=10)
    pred = le_methods.rf_predict(clf, img, axis=0)
    assert pred.shape == mask.shape
    test = le_data.TestItem("v", img, mask.astype(np.int64), np.arange(2, 6), per_slice=True)
    res = le_methods.score(lambda im: le_methods.rf_predict(clf, im, 0), [test], 3, 0)
    assert res["n_test"] == 4 and res["dice_pooled_mean"] > 0.8
    assert len(res["dice_pooled"]) == 2


def test_presets_and_method_configs():
    base = le_methods.bench_preset("cpu", "hippocampus")
    (gs, gb), (ls, lb), (fs, fb) = le_methods.CPU_STAGES["hippocampus"]
    assert (base.global_stage.steps, base.global_stage.batch_size) == (gs, gb)
    assert (base.local_stage.steps, base.local_stage.batch_size) == (ls, lb)
    assert (base.finetune.steps, base.finetune.batch_size, base.preset) == (fs, fb, "cpu")
    assert base.finetune.epochs is None and not base.flip  # anatomy: no mirroring
    assert le_methods.bench_preset("cpu", "em").flip  # EM has no orientation
    for method, (g, mode, _) in le_methods.METHODS.items():
        if method == "rf":
            continue
        cfg = le_methods.method_config(base, method, seed=2, axis=0, size=(64, 48))
        assert cfg.global_stage.enabled == g and cfg.local_stage.enabled == (mode is not None)
        assert cfg.finetune.enabled and cfg.seed == 2 and cfg.image_size == (64, 48)
        if mode:
            assert cfg.local_stage.mode == mode
    assert base.local_stage.mode == "exact"  # the copy is untouched
    smoke = le_methods.bench_preset("paper", "em", steps=5)
    assert smoke.finetune.steps == 5 and smoke.finetune.epochs is None
    assert smoke.local_stage.max_anchors == 4096 and smoke.global_stage.batch_size == 16
    assert le_methods.preset_label("cpu", 20) == "cpu+steps20"
    assert le_methods.device_label(torch.device("cpu")).startswith("cpu (")


def test_stage_steps_study_preset():
    from benchmarks import label_efficiency

    a = label_efficiency.parse_args(["--stage-steps", "global=860,local=500", "--dry-run"])
    assert a.stage_steps == {"global": 860, "local": 500}
    cfg = le_methods.bench_preset("cpu", "hippocampus", stage_steps=a.stage_steps)
    base = le_methods.bench_preset("cpu", "hippocampus")
    assert (cfg.global_stage.steps, cfg.local_stage.steps) == (860, 500)
    assert cfg.global_stage.min_steps == 0 and cfg.global_stage.epochs is None
    assert cfg.finetune.steps == base.finetune.steps  # unnamed stages keep the preset
    # its rows and cached global stage never mix with the plain preset's
    assert le_methods.preset_label("cpu", None, a.stage_steps) == "cpu+global860+local500"
    assert le_methods.preset_label("cpu", None, {}) == "cpu"
    for bad in ("glob=3", "local=0", "local", "finetune=x"):
        with pytest.raises(SystemExit):
            label_efficiency.parse_args(["--stage-steps", bad])
    with pytest.raises(argparse.ArgumentTypeError, match="with stage global, local or finetune$"):
        label_efficiency.stage_steps("glob=3")  # the stage names, not Stage.FINETUNE
    with pytest.raises(ValueError, match="unknown stage"):
        le_methods.bench_preset("cpu", "hippocampus", stage_steps={"pre": 3})
    both = le_methods.bench_preset("cpu", "hippocampus", steps=5, stage_steps={"local": 7})
    assert (both.global_stage.steps, both.local_stage.steps, both.finetune.steps) == (5, 7, 5)


def test_run_nn_end_to_end_with_cached_global_stage(tmp_path):
    torch.set_num_threads(1)
    img, mask = _blob_volume(1, n=4, size=24)
    bench = le_data.WithinBench.__new__(le_data.WithinBench)
    bench.dataset, bench.image, bench.mask, bench.axis = "em", img, mask, 0
    bench.class_names = ["bg", "a", "b"]
    prep = bench.prepare(2, 0, "dense")
    assert prep.info["n_labelled"] == 2 and len(prep.tests[0].slices) == 2
    base = le_methods.bench_preset("cpu", "hippocampus", steps=2)
    for stage in (base.global_stage, base.local_stage, base.finetune):
        stage.batch_size = 2
    cache = le_methods.GlobalCache(tmp_path, "t", "cpu")
    quiet = lambda _msg: None  # noqa: E731
    res = le_methods.run_nn("global+local-exact", prep, base, 0, device="cpu", cache=cache,
                            log=quiet)
    assert set(res["stages"]) == {"global", "local", "finetune"}
    assert res["stages"]["local"]["steps"] == 2 and res["global_cached"]
    assert 0.0 <= res["dice_pooled_mean"] <= 1.0 and res["n_test"] == 2
    assert res["config"]["global_stage"]["enabled"] is True
    assert len(list(tmp_path.glob("global-*.pt"))) == 1
    json.dumps(res)  # a row must be JSON-serialisable
    again = le_methods.GlobalCache(tmp_path, "t", "cpu").get(prep, base, 0, "cpu", None, 60, quiet)
    assert again[1]["seconds"] == res["global_s"]


@pytest.mark.parametrize("dataset", ["em", "colin27"])
def test_within_volume_loaders_map_classes(dataset, data_dir):
    root = le_data.data_root(dataset, data_dir)
    loader = le_data.load_em if dataset == "em" else le_data.load_colin
    image, mask, names, axis = loader(root)
    assert image.shape == mask.shape and int(mask.max()) == len(names) - 1
    assert set(np.unique(mask)) == set(range(len(names)))
