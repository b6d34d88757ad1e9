# doctor-expect: PT-RUN004
# doctor-args:
# doctor-options:
# doctor-bug: the loop never calls optimizer.zero_grad(): every step uses the sum of all previous gradients
"""Plain script: logistic regression-style classifier."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
torch.set_num_threads(1)

features = torch.randn(600, 10)
labels = (features[:, 2] - features[:, 7] > 0).float()
loader = DataLoader(TensorDataset(features, labels), batch_size=50, shuffle=True)

model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = nn.BCEWithLogitsLoss()

for epoch in range(3):
    epoch_loss = 0.0
    for xb, yb in loader:
        logits = model(xb).squeeze(1)
        loss = loss_fn(logits, yb)
        loss.backward()
        optimizer.step()
        epoch_loss += loss.item()
    print(f"epoch {epoch}: mean loss {epoch_loss / len(loader):.4f}")
