"""Stateful LSTM forecaster over one long sensor stream: the state is carried across windows, detached."""
import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
np.random.seed(0)


class StatefulForecaster(nn.Module):
    def __init__(self, n_features=8, hidden=128, layers=2, horizon=12):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, layers, batch_first=True, dropout=0.1)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(out[:, -1]), state


class StreamFitter:
    def __init__(self, model, lr=1e-3, window=96, horizon=12, device="cpu"):
        self.model = model.to(device)
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.window, self.horizon, self.device = window, horizon, device
        self.state = None

    def windows(self, series):
        for start in range(0, len(series) - self.window - self.horizon, self.window):
            x = series[start:start + self.window]
            y = series[start + self.window:start + self.window + self.horizon, 0]
            yield torch.from_numpy(x)[None].float(), torch.from_numpy(y)[None].float()

    def train_pass(self, series):
        self.model.train()
        self.state = None
        total, n = 0.0, 0
        for x, y in self.windows(series):
            x, y = x.to(self.device), y.to(self.device)
            if self.state is not None:
                self.state = tuple(s.detach() for s in self.state)
            pred, self.state = self.model(x, self.state)
            loss = nn.functional.mse_loss(pred, y)
            self.opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            total += loss.item()
            n += 1
        return total / max(n, 1)

    @torch.no_grad()
    def evaluate(self, series):
        self.model.eval()
        state, errs = None, []
        for x, y in self.windows(series):
            pred, state = self.model(x.to(self.device), state)
            errs.append((pred.cpu() - y).abs().mean().item())
        return float(np.mean(errs))


if __name__ == "__main__":
    data = np.load("data/sensors.npy").astype(np.float32)
    data = (data - data.mean(0)) / (data.std(0) + 1e-6)
    split = int(0.8 * len(data))
    fitter = StreamFitter(StatefulForecaster(n_features=data.shape[1]))
    for epoch in range(30):
        tr = fitter.train_pass(data[:split])
        va = fitter.evaluate(data[split:])
        print(f"epoch {epoch} train mse {tr:.4f} val mae {va:.4f}")
    torch.save(fitter.model.state_dict(), "stateful_lstm.pt")
