"""Every reference implementation really trains a few steps: it learns, is deterministic, and resumes exactly."""

from __future__ import annotations

import importlib
import math

import pytest
import torch

from pytorch_patterns.reference_impls import registry
from pytorch_patterns.reference_impls.common import TrainHooks

# Tiny sizes: a few batches per epoch, so the stop/resume point falls mid-epoch after an epoch boundary.
TINY = {
    "mlp_tabular": dict(n_train=256, n_val=64, batch_size=64, hidden=32, steps=10),
    "cnn_image": dict(n_train=128, n_val=64, batch_size=32, width=4, steps=7),
    "char_lm": dict(n_layer=1, n_embd=32, n_head=2, block_size=32, batch_size=8, window_stride=256, steps=7),
    "seq_classify": dict(n_train=96, n_val=32, batch_size=32, hidden=16, embed_dim=8, max_len=12, steps=7),
    "regression_warmup": dict(n_train=256, n_val=64, n_test=64, batch_size=64, hidden=16, warmup_steps=3,
                              eval_every=2, patience=3, steps=10),
    "autoencoder": dict(n_train=256, n_val=64, batch_size=64, hidden=16, steps=10),
    "finetune_frozen": dict(n_train=128, n_val=64, batch_size=32, width=4, steps=7),
    "mixed_precision": dict(n_train=256, n_val=64, micro_batch=32, accum_steps=2, hidden=32, amp="none", steps=7),
    "compiled_mlp": dict(n_train=256, n_val=64, batch_size=64, hidden=32, compile=False, steps=10),
}
IN_PROCESS = sorted(TINY)


def _module(name):
    return importlib.import_module(registry.get_impl(name).module)


def test_catalogue_has_every_implementation_with_the_shared_interface():
    names = [i.name for i in registry.list_impls()]
    assert len(names) >= 10 and set(IN_PROCESS) | {"ddp_cpu"} == set(names)
    for name in names:
        mod = _module(name)
        for attr in ("Config", "build_data", "build_model", "evaluate", "train"):
            assert hasattr(mod, attr), f"{name} lacks {attr}"
        cfg = mod.Config()
        assert cfg.compile is False  # smoke runs never compile unless asked
        assert registry.source_path(name).is_file()
        assert registry.get_impl(name).summary


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="available: .*mlp_tabular"):
        registry.get_impl("nope")


@pytest.mark.parametrize("name", IN_PROCESS)
def test_trains_deterministically_and_resumes_exactly(name, tmp_path):
    mod = _module(name)
    cfg = mod.Config(**TINY[name])
    full = mod.train(cfg)
    assert full.steps_run == cfg.steps == len(full.losses)
    assert all(math.isfinite(x) for x in full.losses)
    assert full.eval_metric is not None and math.isfinite(full.eval_metric)
    assert full.items_processed > 0 and full.train_s > 0

    again = mod.train(cfg)
    assert again.losses == full.losses  # bit-identical on CPU with the same seed and thread count
    assert again.eval_metric == full.eval_metric

    other_seed = mod.train(cfg.model_copy(update={"seed": 1}))
    assert other_seed.losses != full.losses  # the seed really drives the run

    ckpt = tmp_path / "ckpt.pt"
    k = cfg.steps // 2 + 1
    first = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, stop_at=k))
    assert first.paused and first.eval_metric is None and len(first.losses) == k
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    for key in ("model", "optimizer", "scheduler", "scaler", "step", "loader", "rng"):
        assert key in state, f"checkpoint lacks {key}"
    assert state["step"] == k and "torch" in state["rng"] and "python" in state["rng"]
    # The loader's place travels too: the order is a function of (seed, epoch), so (epoch, position) is enough.
    assert set(state["loader"]) == {"epoch", "position"} and state["loader"]["position"] > 0
    second = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, resume=True))
    assert second.start_step == k
    assert first.losses + second.losses == full.losses
    assert second.eval_metric == full.eval_metric


@pytest.mark.parametrize("name", ["mlp_tabular", "char_lm", "autoencoder"])
def test_loss_goes_down(name):
    mod = _module(name)
    cfg = mod.Config(**{**TINY[name], "steps": 40})
    losses = mod.train(cfg).losses
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5


def test_fp16_with_gradscaler_resumes_exactly_with_the_scaler_state(tmp_path):
    # fp16 autocast + GradScaler also runs on CPU (slowly), which exercises the CUDA recipe's code path.
    mod = _module("mixed_precision")
    cfg = mod.Config(**{**TINY["mixed_precision"], "amp": "fp16", "hidden": 16, "steps": 5})
    full = mod.train(cfg)
    assert full.amp == "fp16" and all(math.isfinite(x) for x in full.losses)
    ckpt = tmp_path / "amp.pt"
    first = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, stop_at=2))
    scaler_state = torch.load(ckpt, map_location="cpu", weights_only=True)["scaler"]
    assert scaler_state["scale"] > 1.0  # a real, enabled scaler was checkpointed
    second = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, resume=True))
    assert first.losses + second.losses == full.losses


def test_early_stopping_stops_and_resumes_to_the_same_stop(tmp_path):
    mod = _module("regression_warmup")
    # min_delta so large that only the first evaluation counts as an improvement: stop after the second.
    cfg = mod.Config(**{**TINY["regression_warmup"], "patience": 1, "min_delta": 1e6, "steps": 50})
    full = mod.train(cfg)
    assert full.steps_run == 2 * cfg.eval_every and not full.paused and full.eval_metric is not None
    ckpt = tmp_path / "es.pt"
    first = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, stop_at=3))
    second = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, resume=True))
    assert first.losses + second.losses == full.losses and second.eval_metric == full.eval_metric


def test_finetune_keeps_the_frozen_stem_and_its_batchnorm_statistics(tmp_path):
    mod = _module("finetune_frozen")
    cfg = mod.Config(**TINY["finetune_frozen"])
    ckpt = tmp_path / "ft.pt"
    mod.train(cfg, TrainHooks(checkpoint_path=ckpt))
    trained = torch.load(ckpt, map_location="cpu", weights_only=True)["model"]
    pretrained = mod.pretrained_backbone(cfg).state_dict()
    for key, value in pretrained.items():
        if key.startswith("stem."):
            assert torch.equal(trained["backbone." + key], value), f"frozen {key} changed"
    changed = [k for k, v in pretrained.items() if k.startswith("stage.") and k.endswith("weight")
               and not torch.equal(trained["backbone." + k], v)]
    assert changed, "the unfrozen stage did not train"


def test_resume_rejects_a_missing_checkpoint(tmp_path):
    mod = _module("mlp_tabular")
    with pytest.raises(FileNotFoundError):
        mod.train(mod.Config(**TINY["mlp_tabular"]), TrainHooks(checkpoint_path=tmp_path / "none.pt", resume=True))


def test_ddp_two_gloo_processes_report_global_metrics_and_resume_exactly(tmp_path):
    import random

    import torch.nn.functional as F
    from torch.utils.data.distributed import DistributedSampler

    mod = _module("ddp_cpu")
    # 4 batches/rank/epoch; 63 validation samples: unequal shards (32 + 31), where a mean of per-rank means errs.
    cfg = mod.Config(n_train=256, n_val=63, batch_size=32, hidden=16, steps=6, log_every=2)
    progress = []
    final = tmp_path / "final.pt"
    full = mod.train(cfg, TrainHooks(checkpoint_path=final, on_log=lambda *a: progress.append(a)))
    assert len(full.losses) == 6 and full.eval_metric is not None and full.device.endswith("x2")
    assert [p[:2] for p in progress] == [(2, 6), (4, 6), (6, 6)]  # rank 0's progress reaches the launcher
    assert [p[2] for p in progress] == [full.losses[1], full.losses[3], full.losses[5]]

    # The first logged loss is the mean over the *global* batch (both ranks' shards), not rank 0's own.
    data = mod.build_data(cfg)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = mod.build_model(cfg)  # the same initial weights as every rank
    shards = []
    for rank in range(2):
        sampler = DistributedSampler(range(cfg.n_train), num_replicas=2, rank=rank, shuffle=True, seed=cfg.seed,
                                     drop_last=True)
        sampler.set_epoch(0)
        shards.append(list(sampler)[: cfg.batch_size])
    with torch.no_grad():
        per_rank = [F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).item() for idx in shards]
        both = shards[0] + shards[1]
        global_loss = F.cross_entropy(model(data.x_train[both]), data.y_train[both]).item()
    assert abs(full.losses[0] - global_loss) < 1e-5 and abs(full.losses[0] - per_rank[0]) > 1e-4

    # The validation accuracy is the whole split's (sums and counts all-reduced), on the final weights.
    model.load_state_dict(torch.load(final, map_location="cpu", weights_only=True)["model"])
    with torch.no_grad():
        correct = (model(data.x_val).argmax(dim=1) == data.y_val).sum().item()
    assert full.eval_metric == correct / cfg.n_val

    ckpt = tmp_path / "ddp.pt"
    first = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, stop_at=5))  # epoch 1, one batch in
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["loader"]["epoch"] == 1 and state["loader"]["position"] == 1
    assert len(state["rng"]) == 2  # one RNG state per rank
    second = mod.train(cfg, TrainHooks(checkpoint_path=ckpt, resume=True))
    assert first.losses + second.losses == full.losses
    assert second.eval_metric == full.eval_metric


@pytest.mark.slow
@pytest.mark.skipif("not __import__('os').environ.get('PTP_SLOW_COMPILE')",
                    reason="torch.compile costs 12-120 s cold on a 2-core CPU box; set PTP_SLOW_COMPILE=1")
def test_compiled_variant_really_compiles_and_matches_eager_closely():
    mod = _module("compiled_mlp")
    cfg = mod.Config(**{**TINY["compiled_mlp"], "steps": 4})
    eager = mod.train(cfg)
    compiled = mod.train(cfg.model_copy(update={"compile": True}))
    assert compiled.compile_s > 0
    assert all(abs(a - b) < 1e-3 for a, b in zip(eager.losses, compiled.losses))
