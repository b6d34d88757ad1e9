"""Fetching in-memory tensors through a DataLoader: per item (TensorDataset + default collate) against a whole
batch per call (`reference_impls.common.InMemoryDataset.__getitems__` + a pass-through collate), and per item in
2 worker processes, in one run. The reference programs' `num_workers=0` for in-memory data rests on this.

    .venv/bin/python bench/loader_fetch.py [--samples 4096] [--features 20]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from pytorch_patterns.reference_impls.common import InMemoryDataset, keep_batch


def epoch_seconds(loader: DataLoader, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _batch in loader:
            pass
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = torch.randn(args.samples, args.features), torch.randint(0, 4, (args.samples,))
    print(f"{args.samples} x {args.features} float32 + labels, one shuffled epoch, best of {args.reps}")
    for bs in (64, 128, 512):
        per_item = epoch_seconds(DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True), args.reps)
        batched = epoch_seconds(DataLoader(InMemoryDataset(x, y), batch_size=bs, shuffle=True, collate_fn=keep_batch),
                                args.reps)
        workers = epoch_seconds(DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True, num_workers=2,
                                           persistent_workers=True), max(2, args.reps // 2))
        print(f"batch {bs:>3}: per item {per_item * 1e3:7.1f} ms, __getitems__ {batched * 1e3:6.1f} ms "
              f"({per_item / batched:5.1f}x faster), per item in 2 persistent workers {workers * 1e3:7.1f} ms "
              f"({workers / batched:5.1f}x slower than batched in-process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
