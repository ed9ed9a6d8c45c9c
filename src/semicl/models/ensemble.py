"""Several segmentation networks whose class probabilities are averaged.

An interactive round trains ``TrainConfig.members`` networks on the same strokes with
different seeds (:mod:`semicl.training.members`). What strokes leave open — pixels far from
any line, slices beyond a structure — each network decides differently, and a single one
lands somewhere new each Train (Colin27: ±0.03 Dice from the seed alone). The average of
two was above the better of its members in all four Colin27 cases measured and its
correction rounds climbed every round; where the networks under-segment (MSD hippocampus
crops) it keeps less structure and cost 0.02 (docs/benchmarks.md, sessions 8 and 9).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import Tensor, nn

from semicl.models.network import SegmentationNet
from semicl.parallel import side_by_side


class NetEnsemble(nn.Module):
    """Networks of one architecture and class count, run side by side (one thread each,
    :func:`semicl.parallel.side_by_side`), their softmax probabilities averaged.

    ``forward`` returns the log of the averaged probabilities, so code written for one
    network's logits works unchanged: their softmax is the average and their argmax its
    class.
    """

    def __init__(self, members: Sequence[SegmentationNet]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"An ensemble needs at least two networks, got {len(members)}.")
        classes = {int(m.num_classes) for m in members}
        if len(classes) != 1:
            raise ValueError(f"Ensemble members predict different class counts {sorted(classes)}.")
        self.members = nn.ModuleList(members)
        self.num_classes = classes.pop()
        self.in_channels = members[0].in_channels

    def forward(self, x: Tensor) -> Tensor:
        """Log of the members' mean class probabilities.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, H, W)

        Returns
        -------
        Tensor, shape (B, num_classes, H, W), float32
            ``log(mean_m softmax(member_m(x)))``, clamped at ``log(1e-30)``.
        """
        logits = side_by_side([partial(m, x) for m in self.members])
        probs = torch.stack([z.float().softmax(1) for z in logits]).mean(0)
        return probs.clamp_min(1e-30).log()
