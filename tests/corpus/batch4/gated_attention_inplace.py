"""Gated attention pooling for multiple-instance learning on whole-slide image patches (ABMIL)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class GatedAttentionPool(nn.Module):
    def __init__(self, d_in=1024, d_attn=256, dropout=0.25):
        super().__init__()
        self.V = nn.Linear(d_in, d_attn)
        self.U = nn.Linear(d_in, d_attn)
        self.w = nn.Linear(d_attn, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h, mask=None):
        # h: (n_patches, d_in)
        a_v = torch.tanh(self.V(h))
        a_u = torch.sigmoid(self.U(h))
        a_u *= self.drop(torch.ones_like(a_u))
        scores = self.w(a_v * a_u).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = F.softmax(scores, dim=0)
        return attn @ h, attn


class ABMIL(nn.Module):
    def __init__(self, d_in=1024, n_classes=2):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(d_in, 512), nn.ReLU(), nn.Dropout(0.25))
        self.pool = GatedAttentionPool(512, 128)
        self.classifier = nn.Linear(512, n_classes)

    def forward(self, bag):
        z, attn = self.pool(self.embed(bag))
        return self.classifier(z), attn


def train(model, bags, epochs=20, lr=2e-4, device="cpu"):
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(bags))
        total = 0.0
        for i in order.tolist():
            feats, label = bags[i]
            logits, _ = model(feats.to(device))
            loss = F.cross_entropy(logits.unsqueeze(0), torch.tensor([label], device=device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / len(bags):.4f}")
    return model


if __name__ == "__main__":
    torch.manual_seed(0)
    fake_bags = [(torch.randn(int(torch.randint(50, 400, ())), 1024), int(torch.randint(0, 2, ()))) for _ in range(64)]
    train(ABMIL(), fake_bags, epochs=2)
