"""Tabular MLP classifier whose dropout is the functional form, gated by the module's training flag.

Resume replays the shuffling generator: the permutations of the epochs already started are drawn again,
so the data order after resume is the uninterrupted run's.
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch import nn


class DropoutMLP(nn.Module):
    def __init__(self, d_in: int = 16, d_hidden: int = 64, d_out: int = 4, p: float = 0.1) -> None:
        super().__init__()
        self.hidden = nn.Linear(d_in, d_hidden)
        self.head = nn.Linear(d_hidden, d_out)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.hidden(x))  # (B, d_hidden)
        h = F.dropout(h, p=self.p, training=self.training)
        return self.head(h)  # (B, d_out)


def synthetic_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    teacher = torch.randn(16, 4, generator=torch.Generator().manual_seed(99))
    x = torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))  # (n, 16)
    return x, (x @ teacher).argmax(-1)  # labels (n,)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(-1)  # (N,)
    model.train()
    return (pred == y).float().mean().item()


parser = argparse.ArgumentParser()
parser.add_argument("--synthetic-data", action="store_true")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--max-steps", type=int, default=64)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output-dir", default="out")
parser.add_argument("--resume", action="store_true")
args = parser.parse_args()

torch.manual_seed(args.seed)
device = torch.device(args.device)
os.makedirs(args.output_dir, exist_ok=True)
checkpoint_file = os.path.join(args.output_dir, "ckpt.pt")

x_tr, y_tr = synthetic_split(512, args.seed)
x_va, y_va = synthetic_split(128, args.seed + 1)
x_tr, y_tr, x_va, y_va = x_tr.to(device), y_tr.to(device), x_va.to(device), y_va.to(device)

net = DropoutMLP().to(device)
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
shuffle_gen = torch.Generator().manual_seed(args.seed + 12345)
batch = 64
steps_per_epoch = x_tr.shape[0] // batch

start = 0
if args.resume:
    saved = torch.load(checkpoint_file, map_location=device, weights_only=True)
    net.load_state_dict(saved["net"])
    opt.load_state_dict(saved["opt"])
    start = saved["steps_done"]
    torch.set_rng_state(saved["torch_rng"])

order = None
for epoch in range(-(-start // steps_per_epoch)):  # every epoch started before the checkpoint
    order = torch.randperm(x_tr.shape[0], generator=shuffle_gen)  # replay: keeps the generator in step

net.train()
for step in range(start, args.max_steps):
    if step % steps_per_epoch == 0 or order is None:
        order = torch.randperm(x_tr.shape[0], generator=shuffle_gen)
    rows = order[(step % steps_per_epoch) * batch : (step % steps_per_epoch + 1) * batch].to(device)
    logits = net(x_tr[rows])  # (64, 4)
    loss = F.cross_entropy(logits, y_tr[rows])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if (step + 1) % 8 == 0 or step + 1 == args.max_steps:
        print(f"{step + 1}: train loss {loss.item():.4f}, val acc {accuracy(net, x_va, y_va):.3f}")

torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "steps_done": args.max_steps,
            "torch_rng": torch.get_rng_state()}, checkpoint_file)
