import numpy as np
import pytest

from semicl import labels
from semicl.errors import LabelError


def test_scribbles_round_trip():
    s = np.array([[0, 1, 2], [3, 0, 1]], dtype=np.uint8)
    t = labels.scribbles_to_targets(s)
    assert t.dtype == np.int64
    assert t.tolist() == [[-1, 0, 1], [2, -1, 0]]
    assert labels.targets_to_scribbles(t).tolist() == s.tolist()


def test_mask_and_scribbles_share_classes():
    m = np.array([0, 1, 2])
    assert labels.mask_to_scribbles(m).tolist() == [1, 2, 3]
    assert labels.scribbles_to_targets(labels.mask_to_scribbles(m)).tolist() == m.tolist()


@pytest.mark.parametrize("bad", [np.array([-1, 1]), np.array([0.5, 1.0])])
def test_bad_scribble_values(bad):
    with pytest.raises(LabelError):
        labels.scribbles_to_targets(bad)


def test_unknown_label_value_names_the_limit():
    with pytest.raises(LabelError, match="only 2 classes"):
        labels.scribbles_to_targets(np.array([0, 1, 2, 3]), num_classes=2)
    with pytest.raises(LabelError, match="3 classes"):
        labels.mask_to_targets(np.array([0, 3]), num_classes=3)


def test_painted_slices_along_each_axis_and_of_a_2d_image():
    s = np.zeros((3, 4, 5), dtype=np.uint8)
    s[1, 2, 3] = 1  # background counts as painted
    s[2, 0, 0] = 3
    assert labels.painted_slices(s).tolist() == [False, True, True]
    assert labels.painted_slices(s, axis=1).tolist() == [True, False, True, False]
    assert labels.painted_slices(s, axis=2).tolist() == [True, False, False, True, False]
    assert labels.painted_slices(s > 0, axis=2).tolist() == [True, False, False, True, False]
    assert labels.painted_slices(np.zeros((4, 4), np.uint8)).tolist() == [False]
    assert labels.painted_slices(np.eye(4, dtype=np.uint8), axis=1).tolist() == [True]


def test_check_trainable():
    with pytest.raises(LabelError, match="No labelled pixels"):
        labels.check_trainable(np.full((4, 4), -1))
    with pytest.raises(LabelError, match="Only one class"):
        labels.check_trainable(np.array([-1, 1, 1]), ["background", "tumour"])
    assert labels.check_trainable(np.array([-1, 0, 2])) == [0, 2]


def test_structures_without_background_are_refused():
    """Two structures and no background would teach the network that every pixel is a
    structure; the refusal names what is painted and asks for background strokes."""
    names = ["background", "anterior", "posterior"]
    with pytest.raises(LabelError) as info:
        labels.check_trainable(np.array([[-1, 1, 1], [2, 2, -1]]), names)
    msg = str(info.value)
    assert "No background is labelled" in msg and "(anterior, posterior)" in msg
    assert "background (label 1)" in msg and "around the structures" in msg
    assert "'not structure'" in msg
    with pytest.raises(LabelError, match=r"only structures \(class 1, class 2\)"):
        labels.check_trainable(np.array([1, 2, -1]))
    # the same scribbles pass once one background stroke is painted
    scribbles = np.array([[0, 2, 2], [3, 3, 1]])
    assert labels.check_trainable(labels.scribbles_to_targets(scribbles, 3), names) == [0, 1, 2]


def test_default_class_names():
    assert labels.default_class_names(3) == ["background", "structure 1", "structure 2"]
    with pytest.raises(LabelError):
        labels.default_class_names(1)


def test_class_to_scribble_and_mask_dtype():
    assert [labels.class_to_scribble(c) for c in (0, 1, 5)] == [1, 2, 6]
    assert labels.class_to_scribble(labels.BACKGROUND_CLASS) == labels.SCRIBBLE_BACKGROUND
    t = np.array([labels.IGNORE_INDEX, 0, 3])
    assert labels.targets_to_scribbles(t).tolist() == [0, 1, labels.class_to_scribble(3)]
    assert labels.mask_dtype(0) is np.uint8 and labels.mask_dtype(255) is np.uint8
    assert labels.mask_dtype(256) is np.uint16 and labels.mask_dtype(65535) is np.uint16
    assert labels.targets_to_scribbles(np.array([255])).dtype == np.uint16
    with pytest.raises(LabelError, match="uint16"):
        labels.mask_dtype(65536)


def test_scribble_to_class_inverts_class_to_scribble():
    for c in (0, 1, 5, 300):
        assert labels.scribble_to_class(labels.class_to_scribble(c)) == c
    assert labels.scribble_to_class(np.uint8(labels.SCRIBBLE_BACKGROUND)) == labels.BACKGROUND_CLASS
    with pytest.raises(LabelError, match="unpainted"):
        labels.scribble_to_class(labels.UNPAINTED)
    with pytest.raises(LabelError, match="negative"):
        labels.scribble_to_class(-2)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int64, np.float32])
def test_check_trainable_counts_classes_like_unique(dtype):
    # the fast count (np.bincount) against the obvious reference (np.unique)
    rng = np.random.default_rng(0)
    for _ in range(20):
        classes = rng.choice(np.arange(6), size=rng.integers(2, 6), replace=False)
        t = rng.choice(np.r_[labels.IGNORE_INDEX, np.sort(classes)], size=(7, 9)).astype(dtype)
        t.flat[0], t.flat[1] = labels.BACKGROUND_CLASS, classes.max() or 1
        expected = sorted(int(c) for c in np.unique(t) if c != labels.IGNORE_INDEX)
        assert labels.check_trainable(t) == expected


def test_check_trainable_with_a_huge_class_value_does_not_allocate_per_value():
    t = np.array([labels.IGNORE_INDEX, 0, 2**40], dtype=np.int64)
    assert labels.check_trainable(t) == [0, 2**40]


def test_scribbles_to_targets_keeps_every_integer_kind():
    for dtype in (np.uint8, np.uint16, np.int32, bool, np.float64):
        s = np.array([0, 1, 1], dtype=dtype)
        out = labels.scribbles_to_targets(s)
        assert out.dtype == np.int64 and out.tolist() == [-1, 0, 0]
