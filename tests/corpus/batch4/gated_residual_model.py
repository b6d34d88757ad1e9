"""Gated residual network blocks for the demand forecasting model (used by train_forecast.py)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class GatedLinearUnit(nn.Module):
    def __init__(self, d_in, d_out, dropout=0.1):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(d_in, 2 * d_out)

    def forward(self, x):
        a, b = self.fc(self.drop(x)).chunk(2, dim=-1)
        return a * torch.sigmoid(b)


class GatedResidual(nn.Module):
    def __init__(self, d_in, d_hidden, d_out, d_context=None, dropout=0.1):
        super().__init__()
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.ctx = nn.Linear(d_context, d_hidden, bias=False) if d_context else None
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.glu = GatedLinearUnit(d_hidden, d_out, dropout)
        self.norm = nn.LayerNorm(d_out)

    def forward(self, x, context=None):
        residual = self.skip(x)
        h = self.fc1(x)
        if context is not None and self.ctx is not None:
            h = h + self.ctx(context).unsqueeze(1)
        h = self.fc2(F.elu(h))
        out = self.glu(h)
        out.data += residual
        return self.norm(out)


class VariableSelection(nn.Module):
    def __init__(self, n_vars, d_model, dropout=0.1):
        super().__init__()
        self.per_var = nn.ModuleList([GatedResidual(1, d_model, d_model, dropout=dropout) for _ in range(n_vars)])
        self.weights = GatedResidual(n_vars, d_model, n_vars, dropout=dropout)

    def forward(self, x):
        # x: (batch, time, n_vars)
        w = torch.softmax(self.weights(x), dim=-1).unsqueeze(-2)
        per = torch.stack([g(x[..., i:i + 1]) for i, g in enumerate(self.per_var)], dim=-1)
        return (per * w).sum(-1), w.squeeze(-2)


class Forecaster(nn.Module):
    def __init__(self, n_vars, d_model=64, horizon=28, quantiles=(0.1, 0.5, 0.9)):
        super().__init__()
        self.select = VariableSelection(n_vars, d_model)
        self.lstm = nn.LSTM(d_model, d_model, batch_first=True)
        self.post = GatedResidual(d_model, d_model, d_model)
        self.out = nn.Linear(d_model, horizon * len(quantiles))
        self.horizon, self.quantiles = horizon, quantiles

    def forward(self, x):
        h, weights = self.select(x)
        h, _ = self.lstm(h)
        h = self.post(h[:, -1:])
        return self.out(h.squeeze(1)).view(-1, self.horizon, len(self.quantiles)), weights


def quantile_loss(pred, target, quantiles):
    losses = []
    for i, q in enumerate(quantiles):
        err = target - pred[..., i]
        losses.append(torch.max(q * err, (q - 1) * err).mean())
    return sum(losses) / len(losses)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = Forecaster(n_vars=12)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 90, 12), torch.randn(32, 28)
    for _ in range(3):
        pred, _ = model(x)
        loss = quantile_loss(pred, y, model.quantiles)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(loss.item())
