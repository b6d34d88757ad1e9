"""The training doctor's overhead: wall time of a script under `doctor` over the same script run bare, same steps,
same run (ratio; target <= 1.3x).

    .venv/bin/python bench/doctor_overhead.py [--steps 200] [--repeats 3] [--threads 1] [--model cnn|mlp]

The bare run executes the same script with `--steps N` handled by the script itself (it stops after N optimizer
steps), both in fresh child processes (interpreter + torch start-up included in both). Reported: the median
wall time of each over the repeats, and their ratio, plus the ratio of the training loops alone (time from the
first to the last optimizer step, as the script measures it).

Two workloads: `cnn` (the default: a small CNN with batch-norm, dropout, clipping and a scheduler, ~10-30 ms a
step on one CPU thread) and `mlp` (a tiny MLP, well under 1 ms a step: the probe's fixed per-step Python work is
at its most visible; the worst case, not the typical one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRIPT = '''\
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--out", default="")
ap.add_argument("--model", default="cnn")
args = ap.parse_args()
torch.manual_seed(0)
torch.set_num_threads(args.threads)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(64 * 8 * 8, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(self.drop(x.flatten(1)))


if args.model == "mlp":
    data = TensorDataset(torch.randn(2048, 32), torch.randint(0, 10, (2048,)))
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))
else:
    data = TensorDataset(torch.randn(2048, 3, 32, 32), torch.randint(0, 10, (2048,)))
    model = Net()
loader = DataLoader(data, batch_size=32, shuffle=True, drop_last=True)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps)
step, t_first, t_last = 0, None, None
while step < args.steps:
    for x, y in loader:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        t_last = time.perf_counter()
        t_first = t_first or t_last
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
        if step >= args.steps:
            break
if args.out:
    with open(args.out, "w") as fh:
        json.dump({"loop_s": t_last - t_first, "steps": step}, fh)
'''


def bare(script: Path, steps: int, threads: int, out: Path, model: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(script), "--steps", str(steps), "--threads", str(threads), "--out", str(out),
                    "--model", model],
                   check=True, capture_output=True, timeout=1800)
    wall = time.perf_counter() - t0
    return wall, json.loads(out.read_text())["loop_s"]


def doctored(script: Path, steps: int, threads: int, model: str) -> tuple[float, float, int]:
    from pytorch_patterns.reference_impls.doctor import DoctorOptions, diagnose

    t0 = time.perf_counter()
    # the script would stop itself after `steps + 1`; the doctor stops it after `steps` (same work)
    report = diagnose(script, ["--steps", str(steps + 1), "--threads", str(threads), "--model", model],
                      DoctorOptions(steps=steps, timeout_s=1800))
    wall = time.perf_counter() - t0
    if not report.ok:
        raise SystemExit(f"doctor run failed: {report.error}\n{report.output_tail}")
    loop = (steps - 1) / report.throughput_steps_s if report.throughput_steps_s else float("nan")
    return wall, loop, len(report.findings)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "train.py"
        script.write_text(SCRIPT)
        bares, doctors, bare_loops, doc_loops = [], [], [], []
        findings = 0
        for _ in range(args.repeats):  # interleaved, so load changes on the host hit both alike
            wall, loop = bare(script, args.steps, args.threads, Path(tmp) / "bare.json", args.model)
            bares.append(wall)
            bare_loops.append(loop)
            wall, loop, findings = doctored(script, args.steps, args.threads, args.model)
            doctors.append(wall)
            doc_loops.append(loop)
    b, d = statistics.median(bares), statistics.median(doctors)
    bl, dl = statistics.median(bare_loops), statistics.median(doc_loops)
    print(f"model {args.model}, steps {args.steps}, threads {args.threads}, repeats {args.repeats}")
    print(f"bare run      : {b:7.2f} s wall (training loop {bl:6.2f} s)")
    print(f"under doctor  : {d:7.2f} s wall (training loop {dl:6.2f} s), {findings} finding(s)")
    print(f"overhead ratio: {d / b:.3f}x wall, {dl / bl:.3f}x training loop (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
