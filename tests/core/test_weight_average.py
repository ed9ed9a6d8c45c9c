"""The weight average fine-tuning from strokes ends on (semicl.training.weight_average),
and the bounded one a stop returns and the previews show meanwhile."""

from __future__ import annotations

import pytest
import torch

from semicl.config import FinetuneConfig
from semicl.interactive import TrainControl, train_on_image
from test_training import CLASSES, collect, synthetic, tiny_config  # tests/core is on sys.path


def test_ema_weight_is_the_bias_corrected_ema():
    from semicl.training.weight_average import ema_weight

    decay = 0.9
    weights = [3.0, -1.0, 4.0, 1.0, 5.0]
    avg = weights[0]  # the first weights are copied
    for t, w in enumerate(weights[1:], start=2):
        d = ema_weight(decay, t)
        avg = d * avg + (1 - d) * w
    t = len(weights)
    expected = sum((1 - decay) * decay ** (t - 1 - i) * w for i, w in enumerate(weights))
    assert avg == pytest.approx(expected / (1 - decay ** t))
    assert ema_weight(decay, 10_000) == pytest.approx(decay)  # late in a long run


def test_kept_share_is_polynomial_decay_averaging_early_and_the_decay_late():
    """recent = eta bounds the share kept by (t - 1) / (t + eta): eta = 1 weighs the i-th
    weights in proportion to i (analytic); late in a run the decay rules again; eta = 0 is
    the bias-corrected average itself."""
    from semicl.training.weight_average import WeightAverage, ema_weight, kept_share

    weights = [3.0, -1.0, 4.0, 1.0, 5.0, -9.0, 2.0, 6.0]
    avg = weights[0]
    for t, w in enumerate(weights[1:], start=2):
        k = kept_share(0.999999, t, recent=1.0)  # a decay that keeps more: the bound rules
        avg = k * avg + (1 - k) * w
    n = len(weights)
    linear = sum(i * w for i, w in enumerate(weights, start=1)) / (n * (n + 1) / 2)
    assert avg == pytest.approx(linear)
    assert linear != pytest.approx(sum(weights) / n)  # not the plain mean
    for t in (2, 5, 50, 5000):
        assert kept_share(0.99, t) == ema_weight(0.99, t)
    assert kept_share(0.99, 10, recent=7.0) == pytest.approx(9 / 17)  # the bound, early
    assert kept_share(0.99, 10_000, recent=7.0) == ema_weight(0.99, 10_000)  # the decay, late
    with pytest.raises(ValueError, match="recent"):
        WeightAverage(torch.nn.Linear(2, 2), 0.9, recent=-1.0)


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs CUDA")])])
@pytest.mark.parametrize("norm,recent", [("batch", 0.0), ("instance", 0.0), ("batch", 3.0)])
def test_weight_average_matches_torchs_averaged_model(norm, recent, device):
    """The same average as ``torch.optim.swa_utils.AveragedModel`` (per tensor, the
    library's update), batch-norm statistics and their counter included: to the bit on a
    CPU; on CUDA ``foreach`` runs its own fused kernel."""
    from semicl.models.unet import UNet
    from semicl.training.weight_average import WeightAverage, kept_share

    torch.manual_seed(0)
    net = UNet(in_channels=1, base_width=4, depth=2, norm=norm).to(device)
    decay = 0.9

    def per_tensor(avg, cur, n):
        d = kept_share(decay, int(n) + 1, recent)
        return avg * d + cur * (1 - d) if not avg.is_floating_point() else avg.lerp(cur, 1 - d)

    reference = torch.optim.swa_utils.AveragedModel(net, avg_fn=per_tensor, use_buffers=True)
    ours = WeightAverage(net, decay, recent)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        net(torch.randn(2, 1, 16, 16, device=device)).square().mean().backward()
        opt.step()
        reference.update_parameters(net)
        ours.update()
    theirs, mine = reference.module.state_dict(), ours.module.state_dict()
    assert mine.keys() == theirs.keys()
    for k in mine:
        if device == "cpu":
            assert torch.equal(mine[k], theirs[k]), k
        else:
            torch.testing.assert_close(mine[k], theirs[k], rtol=1e-6, atol=1e-7, msg=k)
    # an average, not the last step's weights
    assert any(not torch.equal(mine[k], v) for k, v in net.state_dict().items()
               if v.is_floating_point())


def _spy_averages(monkeypatch) -> tuple[list, dict]:
    """Record each WeightAverage made (its ``recent``) and the weights of the last step."""
    import copy

    from semicl.training.weight_average import WeightAverage

    made, raw = [], {}
    real_init, real_update = WeightAverage.__init__, WeightAverage.update

    def spy_init(self, net, decay, recent=0.0):
        made.append((self, net, recent))
        real_init(self, net, decay, recent)

    def spy(self):
        raw.update(copy.deepcopy(made[0][1].state_dict()))  # the weights of the step just made
        return real_update(self)

    monkeypatch.setattr(WeightAverage, "__init__", spy_init)
    monkeypatch.setattr(WeightAverage, "update", spy)
    return made, raw


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("decay,recent", [(0.0, 5.0), (0.9, 0.0), (0.9, 5.0)])
def test_stroke_finetuning_ends_on_the_weight_average(decay, recent, monkeypatch):
    """With ema_decay the network that comes back at the end of the run holds the plain
    average, not the last step; ``watch`` (and the previews) see the network a stop would
    return: with ema_recent the average bounded to the recent steps, another one."""
    import copy

    made, raw = _spy_averages(monkeypatch)
    watched = {}
    control = TrainControl(watch=lambda net, step: watched.update(
        copy.deepcopy(net.state_dict())))
    image, scribbles, _ = synthetic()
    cfg = tiny_config()
    cfg.finetune = FinetuneConfig(steps=6, batch_size=2, labels="strokes", ema_decay=decay,
                                  ema_recent=recent)
    cfg.global_stage.enabled = cfg.local_stage.enabled = False
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=cfg,
                                      control=control))
    kept = model.net.state_dict()
    assert [r for *_, r in made] == ([] if decay == 0 else [0.0] + ([recent] if recent else []))
    assert bool(raw) == (decay > 0)
    if decay == 0:  # no average: the last step's weights, watched as they are
        assert _same(kept, watched)
        return
    assert _same(kept, made[0][0].module.state_dict())  # the plain average
    assert not _same(kept, raw)
    assert _same(watched, made[-1][0].module.state_dict())
    assert _same(kept, watched) == (recent == 0)


def test_a_stop_keeps_the_average_the_previews_showed(monkeypatch):
    """A stop mid-run returns the network ``watch`` saw last (the average bounded to the
    recent steps), not the plain average kept at a run's end."""
    import copy

    made, _ = _spy_averages(monkeypatch)
    watched = {}

    def watch(net, step):
        watched.update(copy.deepcopy(net.state_dict()))
        if step >= 4:
            control.request_stop()

    control = TrainControl(watch=watch)
    image, scribbles, _ = synthetic()
    cfg = tiny_config()
    cfg.finetune = FinetuneConfig(steps=10, batch_size=2, labels="strokes", ema_decay=0.9,
                                  ema_recent=5.0)
    cfg.global_stage.enabled = cfg.local_stage.enabled = False
    _, model = collect(train_on_image(image, scribbles, class_names=CLASSES, config=cfg,
                                      control=control))
    kept = model.net.state_dict()
    assert model.stopped
    assert _same(kept, watched)
    assert not _same(kept, made[0][0].module.state_dict())
