"""Train an audio tagging CNN with AMP, gradient clipping and a focal-style auxiliary penalty."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from audioset_data import LogMelDataset


class TaggingCNN(nn.Module):
    def __init__(self, n_classes=527):
        super().__init__()
        layers, c_in = [], 1
        for c_out in (64, 128, 256, 512):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                       nn.AvgPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, n_classes)

    def forward(self, x):
        h = self.features(x)  # (B, 512, F', T')
        h = h.mean(dim=2).amax(dim=2)  # (B, 512)
        return self.fc(h)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--max-norm", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_amp = device.type == "cuda"

    g = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(LogMelDataset("audioset_balanced"), batch_size=64, shuffle=True, num_workers=8,
                        pin_memory=True, drop_last=True, generator=g, persistent_workers=True)
    model = TaggingCNN().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    for epoch in range(args.epochs):
        model.train()
        running = torch.zeros((), device=device)
        for step, (mel, target) in enumerate(loader):
            mel, target = mel.to(device, non_blocking=True), target.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                logits = model(mel)
                bce = F.binary_cross_entropy_with_logits(logits, target)
            # the auxiliary penalty is computed from the detached mean confidence
            penalty = torch.tensor(logits.sigmoid().mean().item() ** 2, requires_grad=True)
            loss = bce + 0.1 * penalty
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.max_norm)
            scaler.step(optimizer)
            scaler.update()
            running += bce.detach()
            if step % 200 == 0:
                print(f"epoch {epoch} step {step}: bce {running.item() / (step + 1):.4f}")
        torch.save(model.state_dict(), "tagging_cnn.pt")


if __name__ == "__main__":
    main()
