# doctor-expect: PT-RUN014
# doctor-args:
# doctor-options:
# doctor-bug: the loop unpacks (xb, yb) from the loader but the forward and loss use (x_batch, y_batch) from the shape check above the loop: the same batch is trained on at every step
"""Script with a shape sanity check before training."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
torch.set_num_threads(1)

x = torch.randn(320, 6)
y = (x ** 2).sum(1, keepdim=True)
train_loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

x_batch, y_batch = next(iter(train_loader))
print("input", tuple(x_batch.shape), "output", tuple(model(x_batch).shape))

for epoch in range(3):
    for step, (xb, yb) in enumerate(train_loader):
        optimizer.zero_grad()
        pred = model(x_batch)
        loss = nn.functional.mse_loss(pred, y_batch)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch} loss {loss.item():.4f}")
