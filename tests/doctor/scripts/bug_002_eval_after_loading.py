# doctor-expect: PT-RUN002
# doctor-args:
# doctor-options:
# doctor-bug: the model is put in eval mode for a sanity prediction after loading the warm-start weights and fit() never calls model.train(): every training forward runs with dropout off
"""Warm-start fine-tuning: load a checkpoint, check a prediction, then train."""
import io

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, d_in=32, d_h=64, n_cls=4):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_h)
        self.drop = nn.Dropout(0.4)
        self.fc2 = nn.Linear(d_h, n_cls)

    def forward(self, x):
        return self.fc2(self.drop(F.relu(self.fc1(x))))


def pretrained_state():
    buf = io.BytesIO()
    torch.save(Net().state_dict(), buf)
    buf.seek(0)
    return torch.load(buf)


def fit(model, x, y, steps=30, bs=32, lr=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        idx = torch.randint(0, len(x), (bs,))
        logits = model(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(512, 32)
    y = (x[:, :4].argmax(1))
    model = Net()
    model.load_state_dict(pretrained_state())
    model.eval()
    with torch.no_grad():
        print("sanity prediction:", model(x[:4]).argmax(1).tolist())
    fit(model, x, y)
