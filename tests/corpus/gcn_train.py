"""Graph convolution network for node classification (full-batch, everything on one device)."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


def normalized_adjacency(edge_index, num_nodes):
    device = edge_index.device
    self_loops = torch.arange(num_nodes, device=device).repeat(2, 1)  # (2, N)
    edge_index = torch.cat([edge_index, self_loops], dim=1)
    values = torch.ones(edge_index.size(1), device=device)
    deg = torch.zeros(num_nodes, device=device).index_add_(0, edge_index[0], values)
    d_inv_sqrt = deg.pow(-0.5)
    values = d_inv_sqrt[edge_index[0]] * values * d_inv_sqrt[edge_index[1]]
    return torch.sparse_coo_tensor(edge_index, values, (num_nodes, num_nodes)).coalesce()


class GCN(nn.Module):
    def __init__(self, d_in, d_hidden, n_classes, p=0.5):
        super().__init__()
        self.lin1 = nn.Linear(d_in, d_hidden)
        self.lin2 = nn.Linear(d_hidden, n_classes)
        self.p = p

    def forward(self, x, adj):
        x = F.dropout(x, p=self.p, training=self.training)
        x = F.relu(torch.sparse.mm(adj, self.lin1(x)))
        x = F.dropout(x, p=self.p, training=self.training)
        return torch.sparse.mm(adj, self.lin2(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--graph", default="pubmed.pt")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = torch.load(args.graph, map_location=device, weights_only=True)
    x, y, edge_index = data["x"], data["y"], data["edge_index"]
    train_mask, val_mask = data["train_mask"], data["val_mask"]
    adj = normalized_adjacency(edge_index, x.size(0))

    model = GCN(x.size(1), 64, int(y.max()) + 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    loss_history = []
    for epoch in range(args.epochs):
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x, adj)[train_mask], y[train_mask])
        loss.backward()
        optimizer.step()
        loss_history.append(loss.detach())
        if epoch % 20 == 0:
            model.eval()
            with torch.no_grad():
                acc = (model(x, adj).argmax(1)[val_mask] == y[val_mask]).float().mean()
            print(f"epoch {epoch}: loss {loss_history[-1].item():.4f}, val acc {acc.item():.4f}")
    losses = torch.stack(loss_history).cpu()
    print(f"loss went from {losses[0]:.3f} to {losses[-1]:.3f}")


if __name__ == "__main__":
    main()
