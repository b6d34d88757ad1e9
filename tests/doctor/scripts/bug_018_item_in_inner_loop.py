# doctor-expect: PT-RUN018
# doctor-args:
# doctor-options:
# doctor-bug: every step computes per-sample accuracy with .item() inside a Python loop over the batch, plus .cpu().tolist() and a printed tensor: ~70 host-device syncs per optimizer step (info on CPU, a real stall on CUDA)
"""Device-agnostic loop with very chatty metrics."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def accuracy(logits, targets):
    correct = 0
    preds = logits.argmax(1)
    for i in range(len(targets)):
        if preds[i].item() == targets[i].item():
            correct += 1
    return correct / len(targets)


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.set_num_threads(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(384, 12)
    y = (x[:, 0] + x[:, 1] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 2)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = {"loss": [], "acc": [], "preds": []}
    for epoch in range(3):
        for step, (xb, yb) in enumerate(loader):
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            history["loss"].append(loss.item())
            history["acc"].append(accuracy(logits, yb))
            history["preds"].extend(logits.argmax(1).cpu().tolist())
            if step % 4 == 0:
                print("step", step, "loss", loss.detach(), "first logits", logits[0].detach())
        print(f"epoch {epoch} acc {sum(history['acc'][-12:]) / 12:.3f}")
