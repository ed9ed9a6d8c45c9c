"""Fast tests of benchmarks/ui_lag.py's options and image choice (no window, no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import ui_lag


@pytest.mark.parametrize("image", ["msd", "colin27", "camera"])
def test_each_image_writes_its_own_report(image):
    args = ui_lag.parse_args(["--image", image])
    assert args.image == image
    assert Path(args.out) == ui_lag.HERE / "results" / f"ui_lag_{image}.md"


def test_default_is_msd_and_out_can_be_given(tmp_path):
    assert ui_lag.parse_args([]).image == "msd"
    out = tmp_path / "lag.md"
    assert ui_lag.parse_args(["--image", "camera", "--out", str(out)]).out == str(out)
    with pytest.raises(SystemExit):
        ui_lag.parse_args(["--image", "em"])


def test_the_photograph_is_2d_with_two_classes_and_strokes_of_both():
    im = ui_lag.load_image("camera", "")
    assert im["image"].shape == im["gt"].shape == im["scribbles"].shape == (512, 512)
    assert im["names"] == ["background", "figure"] and im["axis"] == 0 and im["slices"] == [0]
    assert set(np.unique(im["scribbles"])) == {0, 1, 2}  # unpainted, background, figure
