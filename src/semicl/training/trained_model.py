"""A trained network with everything needed to use it again."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from semicl.config import TrainConfig
from semicl.device import resolve_device
from semicl.errors import CheckpointError
from semicl.events import ProgressEvent, drive
from semicl.inference import Prediction, predict_iter
from semicl.models.ensemble import NetEnsemble
from semicl.models.network import SegmentationNet
from semicl.slice_smoothing import slice_sigma, smooth_across_slices
from semicl.training.checkpoint import read_checkpoint, save_checkpoint


@dataclass
class TrainedModel:
    """The network, its configuration and class names, and how training ended.

    ``history`` holds ``(stage, step, loss)`` for every step; ``stopped`` is True when a
    stop request ended training early, and ``finetuned`` is False when no fine-tuning
    step has ever been made (the segmentation head is untrained). ``net`` is one network
    or a :class:`~semicl.models.ensemble.NetEnsemble` of several (an interactive round's
    ``TrainConfig.members``), used alike.
    """

    net: SegmentationNet | NetEnsemble
    config: TrainConfig
    class_names: list[str]
    history: list[tuple[str, int, float]] = field(default_factory=list)
    stopped: bool = False
    finetuned: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def members(self) -> list[SegmentationNet]:
        """The networks: several for an ensemble, else ``[net]``."""
        return list(self.net.members) if isinstance(self.net, NetEnsemble) else [self.net]

    def member(self, i: int) -> TrainedModel:
        """Network ``i`` as a model of its own (the same objects, not copies): what a
        Retrain warm-starts member ``i`` from."""
        return dataclasses.replace(self, net=self.members[i], history=list(self.history))

    @classmethod
    def average(cls, models: Sequence[TrainedModel]) -> TrainedModel:
        """One model from several trained on the same data: their networks as a
        :class:`NetEnsemble`, the first one's configuration and history. Members never
        fine-tuned (a stop came first) are left out unless none was fine-tuned."""
        if not models:
            raise ValueError("No models to average.")
        tuned = [m for m in models if m.finetuned] or list(models)
        nets = [net for m in tuned for net in m.members]
        first = tuned[0]
        return cls(nets[0] if len(nets) == 1 else NetEnsemble(nets), first.config,
                   list(first.class_names), list(first.history),
                   any(m.stopped for m in models), first.finetuned)

    def predict_iter(
        self, image: np.ndarray, *, axis: int | None = None, batch_size: int | None = None,
        normalized: bool = False,
    ) -> Generator[ProgressEvent, None, Prediction]:
        """Predict a 2-D image or 3-D volume slice-wise along ``axis`` (default: the training
        axis); ``batch_size`` and ``normalized``: see :func:`semicl.inference.predict_iter`.
        A volume's probabilities are then smoothed across slices (``config.slice_smoothing``,
        :mod:`semicl.slice_smoothing`) and the mask is their argmax."""
        axis = self.config.slice_axis if axis is None else axis
        pred = yield from predict_iter(
            self.net, image, axis=axis, size=self.config.image_size, batch_size=batch_size,
            device=self.device, normalized=normalized,
        )
        sigma = slice_sigma(image, axis, self.config.slice_smoothing)
        if sigma <= 0:
            return pred
        probs = smooth_across_slices(pred.probs, axis, sigma)
        return Prediction(probs.argmax(0).astype(pred.mask.dtype), probs)

    def predict(self, image: np.ndarray, *, axis: int | None = None,
                batch_size: int | None = None) -> Prediction:
        return drive(self.predict_iter(image, axis=axis, batch_size=batch_size))

    def save(self, path: str | Path) -> Path:
        """Write weights, config, class names and history atomically. The first
        network's weights are ``state_dict`` (what a single-network file holds), the
        others' ``member_state_dicts``."""
        states = [{k: v.detach().cpu() for k, v in net.state_dict().items()}
                  for net in self.members]
        return save_checkpoint(path, {
            "state_dict": states[0],
            "member_state_dicts": states[1:],
            "config": self.config.to_dict(),
            "class_names": list(self.class_names),
            "history": [list(h) for h in self.history],
            "stopped": self.stopped,
            "finetuned": self.finetuned,
        })

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> TrainedModel:
        ckpt = read_checkpoint(path)
        config = TrainConfig.from_dict(ckpt["config"])
        class_names = list(ckpt["class_names"])
        nets = []
        for state in [ckpt["state_dict"], *ckpt.get("member_state_dicts", [])]:
            net = SegmentationNet(config.model, len(class_names))
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                raise CheckpointError(
                    f"{path}: weights do not match the stored configuration ({exc}).") from exc
            nets.append(net)
        net = nets[0] if len(nets) == 1 else NetEnsemble(nets)
        net.to(resolve_device(device)).eval()
        history = [(str(s), int(i), float(v)) for s, i, v in ckpt.get("history", [])]
        return cls(net, config, class_names, history, bool(ckpt.get("stopped", False)),
                   bool(ckpt.get("finetuned", True)))
