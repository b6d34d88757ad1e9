"""The runtime checks on synthetic traces: each check fires on its pattern and stays silent on the look-alike
correct pattern (no child process, no torch)."""

from __future__ import annotations

import pytest

from pytorch_patterns.reference_impls.doctor.checks import run_checks

SITE = ["train.py", 10]


class T:
    """Builds a trace the way the probe writes it."""

    def __init__(self) -> None:
        self.events: list[dict] = [{"ev": "start", "cuda": False, "t": 0.0}]
        self.t = 0.0
        self.k = 0
        self.n_fwd = 0
        self.n_opt_steps: dict[int, int] = {}
        self.opts: set[int] = set()

    def add(self, ev: str, **data) -> dict:
        self.t += 0.01
        data.update(ev=ev, t=round(self.t, 4))
        self.events.append(data)
        return data

    def opt(self, i=0, cls="AdamW"):
        self.opts.add(i)
        return self.add("opt", opt=i, cls=cls, site=["train.py", 5])

    def loader_epoch(self, epoch, n=8, loader=1, sampler="RandomSampler", idx=None, workers=0, stats=None):
        self.add("iter", loader=loader, epoch=epoch, len=n, workers=workers, step=self.k, site=["train.py", 8],
                 sampler=sampler)
        return idx

    def batch(self, i, epoch=0, loader=1, idx=None, wait=0.0001, cols=None, fp=None):
        data = {"loader": loader, "epoch": epoch, "i": i, "wait": wait, "step": self.k}
        if i < 4:
            data["idx"] = idx if idx is not None else hash((epoch, i))
            data["fp"] = fp if fp is not None else hash(("fp", epoch, i))
        if cols is not None:
            data["cols"] = cols
        return self.add("batch", **data)

    def fwd(self, grad=True, modes=None, trained=True, reach=True, fp=None, mod="Net", params=True, fed_by=()):
        n = self.n_fwd
        self.n_fwd += 1
        self.add("fwd", n=n, mod=mod, mid=1, step=self.k, grad=grad, modes=modes, trained=trained, params=params,
                 fed_by=list(fed_by), fp=fp, site=["train.py", 12])
        if reach and grad:
            self.add("reach", n=n)
        return n

    def bwd(self, loss=None, reached=(0,)):
        if loss is None:  # a loss that wanders down a little
            loss = 1.0 - 0.01 * len(self.events) % 7 * 0.01
        return self.add("bwd", n=0, loss=loss, reached=list(reached), step=self.k, site=["train.py", 13])

    def step(self, opt=0, window=1, cleared=True, lr=1e-3, ratios=(1e-3, 2e-3, 1e-3), with_grad=4, dt=0.02,
             wait=0.0001, syncs=1, base=None, gnorm=1.0):
        self.k += 1
        self.n_opt_steps[opt] = self.n_opt_steps.get(opt, 0) + 1
        return self.add("step", opt=opt, k=self.k, n=self.n_opt_steps[opt], window=window, cleared=cleared,
                        lr=[[lr, base]], gnorm=gnorm, ratios=list(ratios), with_grad=with_grad, params=4,
                        site=["train.py", 14], syncs=syncs, wait=wait, dt=dt, scaled=False)

    def params(self, never=(), frozen=(), orphans=(), steps=None):
        return self.add("params", step=self.k, optimizers=[
            {"opt": 0, "steps": steps or self.k, "never": list(never), "n_never": len(never), "frozen": list(frozen),
             "n_frozen": len(frozen), "n_params": 8}], orphans=list(orphans), n_orphans=len(orphans))

    def end(self, reason="stopped", pending=None, compile_stats=None):
        self.add("end", reason=reason, steps=self.k, pending=pending or {}, compile=compile_stats)
        return self.events

    def codes(self, **end) -> set[str]:
        return {f.rule for f in run_checks(self.end(**end), "train.py")}


def healthy(t: T | None = None, steps=12, per_epoch=8, loss=lambda k: 2.0 - 0.05 * k, **step_kw) -> T:
    t = t or T()
    t.opt()
    epoch = i = 0
    t.loader_epoch(0, n=per_epoch)
    for _ in range(steps):
        if i == per_epoch:
            epoch, i = epoch + 1, 0
            t.loader_epoch(epoch, n=per_epoch)
        t.batch(i, epoch=epoch)
        i += 1
        t.fwd(modes={"dropout": "train"}, fp=hash(("in", t.k)))
        t.bwd(loss=loss(t.k))
        t.step(**step_kw)
    t.params()
    return t


def test_healthy_trace_is_clean():
    assert healthy().codes() == set()


def test_eval_forward_in_train_mode():
    t = healthy()
    t.fwd(grad=False, modes={"dropout": "train"}, reach=False)
    assert t.codes() == {"PT-RUN001"}


def test_eval_forward_in_eval_mode_and_gan_generator_feeding_d_are_clean():
    t = healthy()
    t.fwd(grad=False, modes={"dropout": "eval"}, reach=False)
    g = t.fwd(grad=False, modes={"batchnorm": "train"}, reach=False, mod="G")  # no_grad sample for the D step
    t.fwd(grad=True, modes=None, mod="D", fed_by=[g])
    t.bwd()
    t.step()
    assert t.codes() == set()


def test_untrained_teacher_in_train_mode_is_not_flagged():
    t = healthy()
    t.fwd(grad=False, modes={"dropout": "train"}, reach=False, trained=False, mod="Teacher")
    assert t.codes() == set()


def test_training_forward_in_eval_mode():
    t = healthy()
    t.fwd(modes={"dropout": "eval", "batchnorm": "eval"})
    t.bwd()
    t.step()
    assert t.codes() == {"PT-RUN002"}


def test_double_step_and_dirty_grads():
    t = healthy(steps=4)
    t.step(window=0)
    assert "PT-RUN003" in t.codes()
    t2 = healthy(steps=6, cleared=False)
    assert t2.codes() == {"PT-RUN004"}


def test_accumulation_first_window_short():
    t = T()
    t.opt()
    t.loader_epoch(0, n=40)
    windows = [1, 4, 4, 4, 4]
    for w in windows:
        for _ in range(w):
            t.batch(5)
            t.fwd()
            t.bwd()
        t.step(window=w)
    assert t.codes() == {"PT-RUN005"}


def test_accumulation_with_flushed_partial_window_is_clean():
    t = T()
    t.opt()
    for epoch in range(2):
        t.loader_epoch(epoch, n=10)
        for w in (4, 4, 2):  # the partial window is stepped at the end of the epoch
            for _ in range(w):
                t.batch(5, epoch=epoch)
                t.fwd()
                t.bwd()
            t.step(window=w)
    assert t.codes(reason="finished") == set()


def test_params_never_grad_orphans_frozen():
    t = healthy()
    t.params(never=["Net.aux.weight"])
    assert t.codes() == {"PT-RUN006"}
    t = healthy()
    t.params(orphans=["Net.fc.weight"])
    assert t.codes() == {"PT-RUN007"}
    t = healthy()
    t.params(frozen=["Net.emb.weight"])
    assert t.codes() == {"PT-RUN008"}


def test_replaced_layer_is_reported_once():
    t = healthy()
    t.params(never=["<tensor (10, 64)>"], orphans=["Net.fc.weight"])
    assert t.codes() == {"PT-RUN007"}


def test_nonfinite_loss_names_the_module_and_suppresses_divergence():
    t = healthy()
    t.add("nonfinite", what="loss", module=None, step=t.k, site=SITE)
    t.add("bwd", n=1, loss=float("nan"), reached=[0], step=t.k, site=SITE, culprit="FeatureNorm")
    findings = run_checks(t.end(), "train.py")
    assert [f.rule for f in findings] == ["PT-RUN009"]
    assert "FeatureNorm" in findings[0].message


def test_loss_exploding_flat_and_lr_zero():
    assert healthy(loss=lambda k: 1.0 * 3 ** k).codes() == {"PT-RUN010"}
    assert healthy(loss=lambda k: 0.6931).codes() == {"PT-RUN010"}
    assert healthy(ratios=(0.0, 0.0)).codes() == {"PT-RUN010"}
    assert healthy(loss=lambda k: 2.0 + 0.3 * ((-1) ** k)).codes() == set()  # noisy but bounded


def test_update_ratio_bounds():
    assert healthy(ratios=(0.8, 0.9, 0.7)).codes() == {"PT-RUN011"}
    assert healthy(ratios=(1e-8, 2e-8)).codes() == {"PT-RUN011"}
    assert healthy(ratios=(0.05, 0.02)).codes() == set()


def test_clip_on_scaled_grads():
    t = healthy()
    t.add("clip", norm=60000.0, max=1.0, scaled=True, step=t.k, site=SITE)
    assert t.codes() == {"PT-RUN012"}
    t = healthy()
    t.add("clip", norm=0.8, max=1.0, scaled=False, step=t.k, site=SITE)
    assert t.codes() == set()


def test_loader_order_repeats_and_reshuffled_is_clean():
    t = T()
    t.opt()
    for epoch in range(2):
        t.loader_epoch(epoch, n=4, sampler="SequentialSampler")
        for i in range(4):
            t.batch(i, epoch=epoch, idx=1000 + i)
            t.fwd(fp=hash((epoch, i)))
            t.bwd()
            t.step()
    assert t.codes() == {"PT-RUN013"}
    assert healthy(steps=20, per_epoch=4).codes() == set()


def test_same_batch_repeated_needs_a_loader():
    t = T()
    t.opt()
    t.loader_epoch(0, n=8)
    t.batch(0)
    for _ in range(5):
        t.fwd(fp=42)
        t.bwd()
        t.step()
    assert t.codes() == {"PT-RUN014"}
    t = T()  # full-batch training on tensors (no loader): the same input by design
    t.opt()
    for _ in range(5):
        t.fwd(fp=42)
        t.bwd()
        t.step()
    assert t.codes() == set()


def test_constant_label_and_column():
    def run(cols):
        t = T()
        t.opt()
        t.loader_epoch(0, n=8)
        for i in range(4):
            t.batch(i, cols=cols)
            t.fwd(fp=i)
            t.bwd()
            t.step()
        return t.codes()

    label = {"pos": 1, "kind": "label", "n": 32, "min": 1.0, "max": 1.0}
    varied = {"pos": 1, "kind": "label", "n": 32, "min": 0.0, "max": 3.0}
    feats = {"pos": 0, "kind": "features", "n": 32, "width": 3, "min": [0.0, -1.0, -2.0], "max": [0.0, 1.0, 2.0]}
    ok_feats = {"pos": 0, "kind": "features", "n": 32, "width": 2, "min": [-1.0, -2.0], "max": [1.0, 2.0]}
    assert run([ok_feats, label]) == {"PT-RUN015"}
    assert run([feats, varied]) == {"PT-RUN015"}
    assert run([ok_feats, varied]) == set()


def test_input_bound():
    assert healthy(wait=0.05, dt=0.06).codes() == {"PT-RUN016"}
    assert healthy(wait=0.002, dt=0.004).codes() == set()  # a tiny model's collate: share high, wait tiny


def test_scheduler_sized_in_epochs_stepped_per_batch():
    t = T()
    t.opt()
    t.loader_epoch(0, n=20)
    for i in range(6):
        t.batch(i)
        t.fwd(fp=i)
        t.bwd()
        t.step(lr=1e-3 * 0.5 ** i)
        t.add("sched", cls="CosineAnnealingLR", step=t.k, site=SITE, config={"T_max": 5})
    assert t.codes() == {"PT-RUN017"}


def test_scheduler_sized_in_steps_under_gradient_accumulation_is_clean():
    # 20 batches per epoch, 4 per optimizer step: an epoch is 5 steps, so T_max=8 steps is not "sized in epochs".
    t = T()
    t.opt()
    t.loader_epoch(0, n=20)
    for i in range(24):
        t.batch(i % 20, epoch=i // 20)
        t.fwd(fp=i)
        t.bwd()
        if i % 4 == 3:
            t.step(window=4, lr=1e-3 * 0.9 ** (i // 4))
            t.add("sched", cls="CosineAnnealingLR", step=t.k, site=SITE, config={"T_max": 8})
    assert "PT-RUN017" not in t.codes()


def test_warmup_never_ends_and_per_epoch_warmup_is_clean():
    assert healthy(steps=12, per_epoch=4, lr=1e-5, base=1e-3, t=_with_sched()).codes() == {"PT-RUN017"}
    assert healthy(steps=12, per_epoch=4, lr=5e-4, base=1e-3, t=_with_sched()).codes() == set()


def _with_sched() -> T:
    t = T()
    t.add("sched", cls="LambdaLR", step=0, site=SITE, config={})
    return t


def test_host_syncs_are_info_on_cpu():
    findings = run_checks(healthy(syncs=40).end(), "train.py")
    assert [(f.rule, f.severity.value) for f in findings] == [("PT-RUN018", "info")]
    assert healthy(syncs=2).codes() == set()


def test_recompilations():
    t = healthy()
    assert t.codes(compile_stats={"stats": {"unique_graphs": 8}, "frames": {"total": 11},
                                  "recompile_limit_hits": 1}) == {"PT-RUN019"}
    t = healthy()
    assert t.codes(compile_stats={"stats": {"unique_graphs": 8}, "frames": {"total": 11}}) == set()


@pytest.mark.parametrize("bad", [[], [{"ev": "start"}], [{"ev": "end", "reason": "error"}]])
def test_empty_or_truncated_traces_do_not_crash(bad):
    assert run_checks(bad, "train.py") == []


def _per_batch_warmup(t: T, steps=12, per_epoch=4, warmup=500) -> T:
    t.opt()
    t.loader_epoch(0, n=per_epoch)
    for k in range(steps):
        if k and k % per_epoch == 0:
            t.loader_epoch(k // per_epoch, n=per_epoch)
        t.batch(k % per_epoch, epoch=k // per_epoch)
        t.fwd(fp=hash(("in", k)))
        t.bwd(loss=2.0 - 0.01 * k)
        t.step(lr=1e-3 * (k + 1) / warmup, base=1e-3)
        t.add("sched", cls="LambdaLR", step=t.k, site=SITE, config={})
    t.params()
    return t


def test_long_per_batch_warmup_is_judged_only_when_the_run_finished():
    # the doctor stopped it: a long warm-up still ramping says nothing about the end of the run
    assert _per_batch_warmup(T()).codes(reason="stopped") == set()
    # the script finished on its own with the LR still rising, at 2.4% of its target
    assert _per_batch_warmup(T()).codes(reason="finished") == {"PT-RUN017"}
    # finished after the warm-up reached its target: clean
    assert _per_batch_warmup(T(), warmup=6).codes(reason="finished") == set()


def test_onecycle_sized_in_batches_stepped_per_epoch():
    def run(config):
        t = T()
        t.opt()
        for epoch in range(3):
            t.loader_epoch(epoch, n=8)
            for i in range(8):
                t.batch(i, epoch=epoch)
                t.fwd(fp=hash(("in", t.k)))
                t.bwd(loss=2.0 - 0.01 * t.k)
                t.step(lr=1e-3 * (1 + epoch), base=1e-3)
            t.add("sched", cls="OneCycleLR", step=t.k, site=SITE, config=config)
        t.params()
        return t.codes()

    assert run({"total_steps": 48, "steps_per_epoch": 8}) == {"PT-RUN017"}
    assert run({"total_steps": 6}) == set()  # sized in epochs (total_steps=epochs), stepped per epoch: fine


def test_gradients_assigned_by_hand_are_new_gradients():
    t = T()
    t.opt()
    for k in range(6):
        t.fwd(grad=False, reach=False, fp=k)
        t.add("step", opt=0, k=k + 1, n=k + 1, window=0, cleared=False, lr=[[1e-3, None]], gnorm=1.0,
              ratios=[1e-3], with_grad=4, params=4, site=["train.py", 14], syncs=0, wait=0, dt=0.01, scaled=False,
              assigned=True)
    assert "PT-RUN003" not in t.codes()
    t2 = healthy(steps=6)
    t2.add("step", opt=0, k=7, n=7, window=0, cleared=False, lr=[[1e-3, None]], gnorm=1.0, ratios=[1e-3],
           with_grad=4, params=4, site=["train.py", 14], syncs=0, wait=0, dt=0.01, scaled=False)
    assert "PT-RUN003" in t2.codes()


def test_divergence_explained_by_carried_over_gradients_is_not_reported_twice():
    t = healthy(steps=16, cleared=False, loss=lambda k: 1.5 ** k)
    codes = t.codes()
    assert "PT-RUN004" in codes and "PT-RUN010" not in codes


def test_partial_windows_dropped_without_a_dataloader():
    def run(last_stepped: bool, reason="finished"):
        t = T()
        t.opt()
        for _epoch in range(2):
            if t.k and not last_stepped:
                t.add("discard", opt=0, backwards=1, step=t.k, site=SITE, kind="optimizer")
            for i in range(7):
                t.fwd(fp=hash(("in", t.k, i)))
                t.bwd(loss=2.0 - 0.01 * t.k)
                if (i + 1) % 3 == 0 or (last_stepped and i == 6):
                    t.step(window=3 if (i + 1) % 3 == 0 else 1)
        t.params()
        return t.codes(reason=reason, pending={} if last_stepped else {"0": 1})

    assert run(last_stepped=False) == {"PT-RUN005"}
    assert run(last_stepped=True) == set()


def test_iterable_dataset_streaming_the_same_samples_each_epoch():
    def run(same: bool):
        t = T()
        t.opt()
        for epoch in range(3):
            t.loader_epoch(epoch, n=None, sampler="_InfiniteConstantSampler")
            for i in range(6):
                t.batch(i, epoch=epoch, idx=0, fp=hash(("fp", 0 if same else epoch, i)))
                t.fwd(fp=hash(("in", t.k)))
                t.bwd(loss=2.0 - 0.01 * t.k)
                t.step()
        t.params()
        return t.codes()

    assert run(same=True) == {"PT-RUN013"}
    assert run(same=False) == set()
