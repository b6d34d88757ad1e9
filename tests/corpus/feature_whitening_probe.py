"""Analyse frozen backbone features: ZCA whitening, a temperature-scaled probe, calibration stats."""
import argparse

import numpy as np
import torch
import torch.nn as nn


def zca_whiten(feats, eps=1e-5):
    feats = feats - feats.mean(0, keepdim=True)
    cov = feats.t() @ feats / (feats.size(0) - 1)
    eigvals, eigvecs = torch.symeig(cov, eigenvectors=True)
    w = eigvecs @ torch.diag(1.0 / (eigvals + eps).sqrt()) @ eigvecs.t()
    return feats @ w


class TemperatureProbe(nn.Module):
    def __init__(self, d, n_classes):
        super().__init__()
        self.fc = nn.Linear(d, n_classes)
        self.log_t = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        logits = self.fc(x) / self.log_t.exp()
        probs = torch.exp(logits - logits.amax(-1, keepdim=True))
        probs /= probs.sum(-1, keepdim=True)
        return probs


def relative_gain(acc_new, acc_base):
    # gains are averaged in log space across seeds upstream; convert back to a percentage change
    log_ratio = torch.log(acc_new) - torch.log(acc_base)
    return 100 * (torch.exp(log_ratio) - 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--feats", default="dinov2_feats.npz")
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = np.load(args.feats)
    x = zca_whiten(torch.from_numpy(data["x"]).float()).to("cuda")
    y = torch.from_numpy(data["y"]).long().to("cuda")
    n_train = int(0.8 * len(x))
    probe = TemperatureProbe(x.size(1), int(y.max()) + 1).to("cuda")
    optimizer = torch.optim.LBFGS(probe.parameters(), lr=0.5, max_iter=20)

    def closure():
        optimizer.zero_grad()
        probs = probe(x[:n_train])
        loss = nn.functional.nll_loss(torch.log(probs + 1e-12), y[:n_train])
        loss.backward()
        return loss

    for epoch in range(args.epochs):
        loss = optimizer.step(closure)
        if epoch % 10 == 0:
            print(f"epoch {epoch}: nll {loss.item():.4f}")
    probe.eval()
    with torch.no_grad():
        acc = (probe(x[n_train:]).argmax(1) == y[n_train:]).float().mean()
        base = torch.tensor(float(data["baseline_acc"]), device=acc.device)
    print(f"probe acc {acc:.4f}, gain over baseline {relative_gain(acc, base):.2f}%")


if __name__ == "__main__":
    main()
