"""Several networks side by side (TrainConfig.members): the thread helper, the averaging
network, training members on threads exactly as alone, Stop, close, errors, Retrain and
the model file."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from semicl.config import FinetuneConfig, GlobalConfig, LocalConfig, ModelConfig, TrainConfig
from semicl.errors import SemiclError
from semicl.events import ProgressEvent, Stage, drive
from semicl.interactive import TrainControl, prepare_image_data, training_round
from semicl.models.ensemble import NetEnsemble
from semicl.models.network import SegmentationNet
from semicl.parallel import member_threads, side_by_side
from semicl.training import members as members_module
from semicl.training.members import train_members
from semicl.training.pipeline import train
from semicl.training.trained_model import TrainedModel

CLASSES = ["background", "disk", "square"]


def tiny_config(**kw) -> TrainConfig:
    cfg = TrainConfig(
        model=ModelConfig(base_width=4, depth=2, global_dim=8, local_dim=8),
        global_stage=GlobalConfig(steps=2, batch_size=4),
        local_stage=LocalConfig(steps=2, batch_size=2, mode="exact", max_anchors=64),
        finetune=FinetuneConfig(steps=6, batch_size=2),
        seed=3, device="cpu", members=2, num_threads=2,
    )
    return dataclasses.replace(cfg, **kw)


def synthetic(n=5, size=24):
    """A disk and a square in every slice; strokes (scribble = class + 1) on two slices."""
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((n, size, size), np.float32)
    disk = (yy - 8) ** 2 + (xx - 8) ** 2 < 16
    square = (abs(yy - 17) < 4) & (abs(xx - 16) < 4)
    image[:] = 0.2 + 0.5 * disk + 0.8 * square
    image += np.random.default_rng(0).normal(0, 0.05, image.shape).astype(np.float32)
    scribbles = np.zeros(image.shape, np.uint8)
    for z in (1, 3):
        scribbles[z, 8, 5:11] = 2
        scribbles[z, 17, 13:19] = 3
        scribbles[z, 2, 2:20] = 1
    return image, scribbles


def data():
    image, scribbles = synthetic()
    return prepare_image_data(image, scribbles, CLASSES)


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# -- the thread helper -------------------------------------------------------------------
def test_side_by_side_keeps_order_grad_mode_and_threads():
    seen = []

    def job(i):
        def run():
            seen.append(threading.current_thread().name)
            return i, torch.is_grad_enabled(), torch.get_num_threads()
        return run

    before = torch.get_num_threads()
    with torch.no_grad():
        out = side_by_side([job(i) for i in range(3)], threads=1)
    assert [o[0] for o in out] == [0, 1, 2]
    assert not any(o[1] for o in out), "a job under no_grad must not build graphs"
    assert all(o[2] == 1 for o in out)
    assert len(set(seen)) == 3 and torch.get_num_threads() == before


def test_side_by_side_raises_a_jobs_error_after_all_ended():
    done = []

    def slow():
        threading.Event().wait(0.2)
        done.append(True)
        return 1

    def bad():
        raise RuntimeError("member failed")

    with pytest.raises(RuntimeError, match="member failed"):
        side_by_side([bad, slow])
    assert done == [True]


@pytest.mark.parametrize(("jobs", "budget", "each"), [(2, 1, 1), (2, 2, 1), (2, 7, 3), (3, 16, 5)])
def test_member_threads_share_the_budget(jobs, budget, each):
    assert member_threads(jobs, budget) == each


# -- the averaging network ---------------------------------------------------------------
def test_ensemble_returns_the_log_of_the_mean_probability():
    cfg = tiny_config().model
    torch.manual_seed(0)
    nets = [SegmentationNet(cfg, 3).eval() for _ in range(2)]
    ens = NetEnsemble(nets).eval()
    x = torch.randn(2, 1, 20, 28)
    with torch.no_grad():
        out = ens(x)
        mean = (nets[0](x).softmax(1) + nets[1](x).softmax(1)) / 2
    assert out.shape == (2, 3, 20, 28)
    # separate forward passes: oneDNN may sum in another order (1.3e-5 seen once on a Xeon)
    torch.testing.assert_close(out.softmax(1), mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.exp(), mean, atol=1e-4, rtol=1e-4)
    assert torch.equal(out.argmax(1), mean.argmax(1))
    with pytest.raises(ValueError, match="different class counts"):
        NetEnsemble([nets[0], SegmentationNet(cfg, 4)])
    with pytest.raises(ValueError, match="at least two"):
        NetEnsemble(nets[:1])


# -- training members --------------------------------------------------------------------
def test_members_train_on_threads_exactly_as_alone():
    d = data()
    # threads not handed on: a member left alone on two threads sums in another order
    cfg = tiny_config(share_threads=False)
    events, model = [], None
    model = drive(train_members(d, cfg), events.append)
    assert isinstance(model.net, NetEnsemble) and len(model.members) == 2
    assert model.finetuned and model.config.members == 2 and model.config.seed == cfg.seed
    assert model.config.num_threads == cfg.num_threads
    for i, net in enumerate(model.members):
        alone = drive(train(d, dataclasses.replace(cfg, seed=cfg.seed + i, members=1,
                                                   num_threads=1)))
        assert states_equal(net, alone.net), f"member {i} differs from its run alone"
    assert not states_equal(model.members[0], model.members[1])
    assert Stage.FINETUNE in {e.stage for e in events if isinstance(e, ProgressEvent)}


def test_thread_share_counts_the_members_that_run_the_next_step():
    share = members_module.ThreadShare(4, 3)
    assert share.share() == 1
    share.told(0, 20, 20)  # member 0 ends after step 20
    share.told(1, 100, None)  # member 1 runs at least through step 100
    share.told(2, 50, 50)
    assert share.share(1, 19) == 1  # step 20: all three train
    assert share.share(1, 20) == share.share(2, 20) == 2  # member 0 has ended
    assert share.share(2, 49) == 2
    share.told(1, 200, 150)
    assert share.share(1, 50) == 4  # member 1 alone
    share = members_module.ThreadShare(4, 3)
    share.told(0, 100, None)
    share.told(1, 100, None)
    share.finished(2)  # ended without a last step (a stop, an error): no further step
    assert share.share(1, 30) == 2
    assert members_module.ThreadShare(1, 2).share() == 1
    fixed = members_module.ThreadShare(4, 2, hand_on=False)
    fixed.told(0, 0, 0)
    assert fixed.share(1, 10) == 2


def test_thread_share_waits_until_the_others_part_in_the_next_step_is_known():
    share = members_module.ThreadShare(2, 2)
    share.told(0, 100, None)  # member 0: no step past 100 promised yet
    seen = []
    thread = threading.Thread(target=lambda: seen.append(share.share(1, 100)))
    thread.start()
    time.sleep(0.3)
    assert not seen, "member 1 chose its threads for step 101 before member 0 told its part"
    share.told(0, 150, 150)  # fitted at its check at 100: ends after step 150
    thread.join(5)
    assert seen == [1]
    assert share.share(1, 149) == 1 and share.share(1, 150) == 2
    # a member that ended (any cause) no longer holds the others
    share = members_module.ThreadShare(2, 2)
    thread = threading.Thread(target=share.share, args=(1, 100))
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    share.finished(0)
    thread.join(5)
    assert not thread.is_alive()


def lengths(monkeypatch, steps=(20, 80), slow=None):
    """Members fine-tune for ``steps`` (fixed lengths); member ``slow`` sleeps after each
    fine-tuning step; records (member, step, threads of the next step)."""
    seen: list[tuple[int, int, int]] = []

    class Recording(members_module.ThreadShare):
        def apply(self, index, step):
            if index == slow:
                time.sleep(0.05)
            super().apply(index, step)
            seen.append((index, step, torch.get_num_threads()))

    real = members_module.member_config

    def longer(config, index, threads):
        cfg = real(config, index, threads)
        return dataclasses.replace(cfg, finetune=dataclasses.replace(cfg.finetune,
                                                                     steps=steps[index]))

    monkeypatch.setattr(members_module, "ThreadShare", Recording)
    monkeypatch.setattr(members_module, "member_config", longer)
    return seen


def test_a_member_left_alone_trains_on_the_others_threads_from_a_fixed_step(monkeypatch):
    # member 0 ends after step 20, slowly (it sleeps after each step): member 1 takes both
    # threads after its own step 20 all the same, not when member 0 is done by the clock
    seen = lengths(monkeypatch, slow=0)
    before = torch.get_num_threads()
    # a budget of one thread still runs both members, one thread each: member 1 gets two
    watched = []
    control = TrainControl(watch=lambda net, step: watched.append(step))
    model = drive(train_members(data(), tiny_config(num_threads=1), control=control))
    assert model.finetuned and torch.get_num_threads() == before
    assert control.watch is not None and control.on_length is None  # the caller's, back
    assert watched == list(range(1, 21))  # the caller's watch saw member 0's steps
    other = [(step, n) for index, step, n in seen if index == 1]
    assert [step for step, _ in other] == list(range(1, 81))
    assert all(n == 1 for step, n in other if step < 20), "both training: one thread each"
    assert all(n == 2 for step, n in other if step >= 20), "member 0 done: both threads"


def test_a_round_whose_networks_end_apart_repeats_to_the_bit(monkeypatch):
    lengths(monkeypatch, slow=1, steps=(10, 40))
    first = drive(train_members(data(), tiny_config(num_threads=1)))
    lengths(monkeypatch, slow=0, steps=(10, 40))  # another timing: member 0 slow instead
    again = drive(train_members(data(), tiny_config(num_threads=1)))
    for a, b in zip(first.members, again.members, strict=True):
        assert states_equal(a, b)


def test_one_member_is_the_pipeline():
    d = data()
    cfg = tiny_config(members=1, num_threads=1)
    one = drive(train_members(d, cfg))
    assert isinstance(one.net, SegmentationNet)
    assert states_equal(one.net, drive(train(d, cfg)).net)


def test_stop_reaches_every_member(monkeypatch):
    seen = []
    monkeypatch.setattr(members_module.TrainedModel, "average",
                        classmethod(lambda cls, models: seen.extend(models) or models[0]))
    cfg = tiny_config()
    cfg.finetune.steps = 5000
    control = TrainControl()

    def stop_in_finetuning(ev):
        if isinstance(ev, ProgressEvent) and ev.stage is Stage.FINETUNE:
            control.request_stop()

    drive(train_members(data(), cfg, control=control), stop_in_finetuning)
    assert len(seen) == 2 and all(m.stopped for m in seen)
    for m in seen:
        steps = [s for stage, s, _ in m.history if stage == Stage.FINETUNE.value]
        assert len(steps) < 5000


def test_closing_the_round_stops_and_joins_the_other_members():
    cfg = tiny_config()
    cfg.finetune.steps = 5000
    gen = train_members(data(), cfg)
    for ev in gen:
        if isinstance(ev, ProgressEvent) and ev.stage is Stage.FINETUNE:
            break
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("semicl-member-")]


def test_an_error_in_another_member_is_raised(monkeypatch):
    real = members_module.member_config

    def broken(config, index, threads):
        cfg = real(config, index, threads)
        if index == 1:
            cfg.finetune.batch_size = 0  # invalid: member 1's train() refuses it
        return cfg

    monkeypatch.setattr(members_module, "member_config", broken)
    cfg = tiny_config()
    cfg.finetune.steps = 5000
    events = []
    with pytest.raises(SemiclError):
        drive(train_members(data(), cfg), events.append)
    assert len(events) < 100, "member 0 must end soon after another member failed"


def test_retrain_warm_starts_each_member_from_its_own_network():
    d = data()
    first = drive(train_members(d, tiny_config()))
    cfg = tiny_config()
    cfg.finetune.enabled = False
    again = drive(train_members(d, cfg, init=first, pretrain=False))
    for a, b in zip(first.members, again.members, strict=True):
        assert states_equal(a, b)
    single = first.member(1)
    seeded = drive(train_members(d, cfg, init=single, pretrain=False))
    assert all(states_equal(single.net, m) for m in seeded.members)


# -- the round and the model file --------------------------------------------------------
def test_a_round_with_two_members_predicts_with_their_average(tmp_path):
    image, scribbles = synthetic()
    result = drive(training_round(image, scribbles, class_names=CLASSES, config=tiny_config()))
    model = result.model
    assert isinstance(model.net, NetEnsemble) and result.mask.shape == image.shape
    probs = [model.member(i).predict(image).probs for i in range(2)]
    mean = (probs[0] + probs[1]) / 2
    np.testing.assert_allclose(model.predict(image).probs, mean, atol=1e-5)

    path = model.save(tmp_path / "model.pt")
    ckpt = torch.load(path, weights_only=True)
    assert len(ckpt["member_state_dicts"]) == 1  # member 0 is "state_dict", as in a single file
    again = TrainedModel.load(path, device="cpu")
    assert isinstance(again.net, NetEnsemble) and again.config == model.config
    np.testing.assert_array_equal(again.predict(image).mask, model.predict(image).mask)
    single = model.member(0)
    single.save(tmp_path / "one.pt")
    assert isinstance(TrainedModel.load(tmp_path / "one.pt", device="cpu").net, SegmentationNet)


def test_members_must_be_between_one_and_eight():
    for bad in (0, 9):
        with pytest.raises(SemiclError, match="members"):
            tiny_config(members=bad).validate()
