# doctor-expect: PT-RUN017
# doctor-args:
# doctor-options:
# doctor-bug: the warm-up length is a constant (warmup_steps=500, copied from a recipe for a larger dataset) while the whole run is 3 epochs of 6 batches (18 optimizer steps, fewer than the doctor's --steps): the script finishes with the LR still ramping, at 3.6% of its target
"""Small transformer classifier, linear warm-up (per batch) then constant LR, a short run that finishes."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

WARMUP_STEPS = 500


def build(d=32):
    layer = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.1, batch_first=True)
    return nn.ModuleDict({"emb": nn.Embedding(40, d), "enc": nn.TransformerEncoder(layer, 1), "cls": nn.Linear(d, 2)})


def forward(m, ids):
    return m["cls"](m["enc"](m["emb"](ids)).mean(1))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    ids = torch.randint(0, 40, (192, 8))
    labels = (ids[:, 0] < 20).long()
    loader = DataLoader(TensorDataset(ids, labels), batch_size=32, shuffle=True)
    model = build()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / WARMUP_STEPS))
    for epoch in range(3):
        model.train()
        for x, y in loader:
            loss = nn.functional.cross_entropy(forward(model, x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(epoch, loss.item(), sched.get_last_lr())
