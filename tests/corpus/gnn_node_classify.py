"""Two-layer GCN for node classification on a citation graph (edge list + features in .npz)."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class GCNLayer(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out, bias=False)
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, x, edge_index):
        num_nodes = x.size(0)
        src, dst = edge_index
        deg = torch.zeros(num_nodes).index_add_(0, dst, torch.ones(dst.numel(), device=x.device))
        norm = deg.clamp_min(1).pow(-0.5)
        h = self.lin(x)  # (N, d_out)
        msg = h[src] * (norm[src] * norm[dst]).unsqueeze(-1)
        out = torch.zeros_like(h).index_add_(0, dst, msg)
        return out + self.bias


class GCN(nn.Module):
    def __init__(self, d_in, d_hidden, n_classes, p_drop=0.5):
        super().__init__()
        self.conv1 = GCNLayer(d_in, d_hidden)
        self.conv2 = GCNLayer(d_hidden, n_classes)
        self.dropout = nn.Dropout(p_drop)

    def forward(self, x, edge_index):
        x = self.dropout(x)
        x = F.relu(self.conv1(x, edge_index))
        x = self.dropout(x)
        return self.conv2(x, edge_index)


def main():
    torch.manual_seed(42)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = np.load("cora.npz")
    x = torch.from_numpy(data["features"]).float()
    y = torch.from_numpy(data["labels"]).long()
    edge_index = torch.from_numpy(data["edge_index"]).long()
    train_mask = torch.from_numpy(data["train_mask"]).bool()
    val_mask = torch.from_numpy(data["val_mask"]).bool()

    x, edge_index = x.to(device), edge_index.to(device)
    model = GCN(x.size(1), 64, int(y.max()) + 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    history = []
    for epoch in range(200):
        model.train()
        optimizer.zero_grad()
        out = model(x, edge_index)
        loss = F.cross_entropy(out[train_mask], y[train_mask])
        loss.backward()
        optimizer.step()
        history.append(loss.item())

        model.eval()
        with torch.no_grad():
            pred = model(x, edge_index).argmax(1)
            val_acc = (pred[val_mask] == y[val_mask].to(device)).float().mean()
        if epoch % 20 == 0:
            print(f"epoch {epoch:3d} loss {history[-1]:.4f} val acc {val_acc.item():.4f}")


if __name__ == "__main__":
    main()
