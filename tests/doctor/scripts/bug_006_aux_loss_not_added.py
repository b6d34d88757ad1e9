# doctor-expect: PT-RUN006
# doctor-args:
# doctor-options:
# doctor-bug: the auxiliary head's loss is computed and logged but never added to the total loss: aux_head's parameters (in the optimizer) never receive a gradient
"""Multi-task model: main classification + auxiliary regression head."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class MultiTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(12, 32), nn.ReLU())
        self.cls_head = nn.Linear(32, 3)
        self.aux_head = nn.Linear(32, 1)

    def forward(self, x):
        h = self.trunk(x)
        return self.cls_head(h), self.aux_head(h).squeeze(-1)


def compute_losses(model, batch, aux_weight=0.3):
    x, y_cls, y_reg = batch
    logits, reg = model(x)
    main = F.cross_entropy(logits, y_cls)
    aux = F.mse_loss(reg, y_reg)
    total = main
    return total, {"main": main.item(), "aux": aux.item() * aux_weight}


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(288, 12)
    y_cls = x[:, :3].argmax(1)
    y_reg = x[:, 3] * 2.0
    loader = DataLoader(TensorDataset(x, y_cls, y_reg), batch_size=32, shuffle=True)
    model = MultiTask()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(3):
        for batch in loader:
            opt.zero_grad()
            loss, logs = compute_losses(model, batch)
            loss.backward()
            opt.step()
        print(f"epoch {epoch}", {k: round(v, 4) for k, v in logs.items()})
