"""Reference training loops against a naive loop, and against the machine's matmul ceiling, in one run.

For the MLP, CNN and char-LM references it measures, on the same model, data and thread count:
  - the reference `train()` throughput (in-memory batched fetching, losses kept on the device, set_to_none grads);
  - a naive loop: DataLoader defaults over a TensorDataset (per-item fetching + collate; for the CNN the same
    crop + flip applied per sample in __getitem__, torchvision style), `.item()` every step,
    `zero_grad(set_to_none=False)`;
  - achieved GFLOP/s (FLOPs of one training step counted by torch.utils.flop_counter) as a fraction of a plain
    fp32 matmul's GFLOP/s measured here.
Then the runner's own overhead: a cold child (interpreter + torch import) against a warm worker.

    .venv/bin/python bench/reference_speed.py [--steps 150] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from pytorch_patterns.reference_impls.impls import char_lm, cnn_image, mlp_tabular
from pytorch_patterns.reference_impls.runner import RunOptions, WarmPool, run_reference
from pytorch_patterns.reference_impls.worker import pick_threads


def matmul_gflops(dtype: torch.dtype, n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def step_flops(model: torch.nn.Module, batch: tuple, loss_fn) -> int:
    """FLOPs of one forward + backward (the optimizer's elementwise update is negligible)."""
    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(model, batch).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def naive_loop(model, dataset: TensorDataset, batch_size: int, steps: int, optimizer, loss_fn, prepare,
               count) -> float:
    """The loop as it is often written: returns items/s over `steps` steps."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)  # defaults: per-item fetch
    model.train()
    done = 0
    items = 0
    t0 = time.perf_counter()
    while done < steps:
        for batch in loader:
            batch = prepare(batch)
            optimizer.zero_grad(set_to_none=False)  # noqa: PT-GRAD003 -- the naive baseline on purpose
            loss = loss_fn(model, batch)
            loss.backward()
            optimizer.step()
            last_loss = loss.item()  # noqa: PT-PERF001 -- a host sync every step, on purpose
            items += count(batch)
            done += 1
            if done == steps:
                break
    assert last_loss == last_loss, "naive loop diverged"  # NaN check; also keeps the synced value used
    return items / (time.perf_counter() - t0)


def classify_loss(model, batch):
    x, y = batch
    return F.cross_entropy(model(x), y)


def lm_loss(model, batch):
    x, y = batch
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


def lm_prepare(batch):
    (windows,) = batch
    return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)


def identity(batch):
    return tuple(batch)


class PerItemAugmented(TensorDataset):
    """How augmentation is usually written: a transform per sample in __getitem__ (torchvision style)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, padding: int) -> None:
        super().__init__(x, y)
        self.padding = padding

    def __getitem__(self, i: int):
        x, y = super().__getitem__(i)
        return cnn_image.augment(x[None], self.padding)[0], y  # the same crop + flip, one image at a time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    threads, note = pick_threads(args.threads, torch.get_num_threads())
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{threads} thread(s) of {os.cpu_count()} cores" + (f" ({note})" if note else ""))

    fp32 = matmul_gflops(torch.float32)
    bf16 = matmul_gflops(torch.bfloat16, n=512, reps=4)
    print(f"matmul ceiling: fp32 {fp32:.1f} GFLOP/s; bf16 {bf16:.1f} GFLOP/s ({bf16 / fp32:.2f}x fp32)")
    print()
    header = f"{'reference':<12} {'reference':>14} {'naive loop':>14} {'speed-up':>9} {'GFLOP/s':>8} {'of fp32 mm':>10}"
    print(header)
    print("-" * len(header))

    cases = []
    cfg = mlp_tabular.Config(steps=args.steps, device="cpu")
    data = mlp_tabular.build_data(cfg)
    cases.append(("mlp_tabular", mlp_tabular, cfg, TensorDataset(data.x_train, data.y_train), classify_loss,
                  identity, "samples/s", lambda m: torch.optim.AdamW(m.parameters(), lr=cfg.lr)))
    ccfg = cnn_image.Config(steps=args.steps // 2, device="cpu")
    cdata = cnn_image.build_data(ccfg)
    cases.append(("cnn_image", cnn_image, ccfg, PerItemAugmented(cdata.x_train, cdata.y_train, ccfg.crop_padding),
                  classify_loss, identity, "samples/s",
                  lambda m: torch.optim.SGD(m.parameters(), lr=ccfg.lr, momentum=0.9, nesterov=True)))
    lcfg = char_lm.Config(steps=args.steps // 2, device="cpu")
    ldata = char_lm.build_data(lcfg)
    cases.append(("char_lm", char_lm, lcfg, TensorDataset(ldata.train_windows), lm_loss, lm_prepare, "tokens/s",
                  lambda m: torch.optim.AdamW(m.parameters(), lr=lcfg.lr)))

    for name, module, cfg, dataset, loss_fn, prepare, unit, make_opt in cases:
        module.train(cfg.model_copy(update={"steps": 5}))  # warm-up: first-call costs out of the way
        count = (lambda b: b[0].numel()) if unit == "tokens/s" else (lambda b: b[0].shape[0])
        batch_size = cfg.batch_size
        ref_rates, naive_rates = [], []
        for _ in range(args.reps):  # interleaved, best of each: other load on the machine hits both alike
            result = module.train(cfg)
            ref_rates.append(result.items_processed / result.train_s)
            torch.manual_seed(cfg.seed)
            model = char_lm.build_model(cfg, len(ldata.vocab)) if module is char_lm else module.build_model(cfg)
            naive_rates.append(naive_loop(model, dataset, batch_size, cfg.steps, make_opt(model), loss_fn, prepare,
                                          count))
        ref_rate, naive_rate = max(ref_rates), max(naive_rates)

        sample = prepare(next(iter(DataLoader(dataset, batch_size=batch_size))))
        flops = step_flops(model, sample, loss_fn)
        items_per_step = count(sample)
        gflops = flops * (ref_rate / items_per_step) / 1e9
        print(f"{name:<12} {ref_rate:>10,.0f} {unit[:-2]:<3} {naive_rate:>10,.0f} {unit[:-2]:<3} "
              f"{ref_rate / naive_rate:>8.2f}x {gflops:>8.2f} {gflops / fp32:>9.1%}")

    print()
    pool = WarmPool()
    try:
        options = RunOptions(steps=5, threads=threads)
        cold = run_reference("mlp_tabular", options, pool=pool)
        pool.wait_ready(timeout_s=120)
        warm = run_reference("mlp_tabular", options, pool=pool)
    finally:
        pool.close()
    print("runner overhead (child start-up until training begins + hand-back after it ends):")
    for label, report in (("cold child (interpreter + torch import)", cold), ("warm worker (torch imported)", warm)):
        t = report.timings
        print(f"  {label:<40} {t.runner_overhead_s:6.2f} s  (start-up {t.startup_s:.2f} s, "
              f"teardown {t.teardown_s:.2f} s; total wall {t.total_s:.2f} s)")
    print(f"  warm/cold overhead ratio: {warm.timings.runner_overhead_s / cold.timings.runner_overhead_s:.3f}")


if __name__ == "__main__":
    main()
