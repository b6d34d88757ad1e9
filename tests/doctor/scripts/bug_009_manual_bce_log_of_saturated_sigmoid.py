# doctor-expect: PT-RUN009
# doctor-args:
# doctor-options:
# doctor-bug: the hand-written binary cross-entropy takes log(sigmoid(z)) and log(1 - sigmoid(z)) of unscaled logits (features of magnitude ~100): sigmoid saturates to exactly 1.0 in float32 and log(0) makes the loss inf at the first step
"""Click-through-style model with raw count features and a hand-written BCE."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class CTR(nn.Module):
    def __init__(self, n_features=8):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        with torch.no_grad():
            self.linear.weight.fill_(0.5)

    def forward(self, x):
        return self.linear(x).squeeze(-1)


def bce(logits, target):
    p = torch.sigmoid(logits)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    counts = torch.poisson(torch.full((512, 8), 30.0))
    clicks = (torch.rand(512) < 0.3).float()
    loader = DataLoader(TensorDataset(counts, clicks), batch_size=64, shuffle=True)
    model = CTR()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for epoch in range(2):
        for x, y in loader:
            opt.zero_grad()
            loss = bce(model(x), y)
            loss.backward()
            opt.step()
        print(epoch, float(loss))
