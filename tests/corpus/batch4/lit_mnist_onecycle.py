import argparse

import lightning.pytorch as pl
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms


class LitConvNet(pl.LightningModule):
    def __init__(self, lr=0.01, epochs=10, steps_per_epoch=100):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.net(x)

    def _shared(self, batch):
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()

    def training_step(self, batch, batch_idx):
        loss, acc = self._shared(batch)
        self.log_dict({"train/loss": loss, "train/acc": acc}, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._shared(batch)
        self.log_dict({"val/loss": loss, "val/acc": acc}, prog_bar=True)

    def test_step(self, batch, batch_idx):
        loss, acc = self._shared(batch)
        self.log("test/acc", acc)

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9, nesterov=True)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.hparams.lr, epochs=self.hparams.epochs, steps_per_epoch=self.hparams.steps_per_epoch)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--bs", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    pl.seed_everything(1, workers=True)

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    full = datasets.MNIST("data", train=True, download=True, transform=tf)
    train_set, val_set = random_split(full, [55000, 5000], generator=torch.Generator().manual_seed(1))
    test_set = datasets.MNIST("data", train=False, download=True, transform=tf)
    train_dl = DataLoader(train_set, batch_size=args.bs, shuffle=True, num_workers=4, persistent_workers=True)
    val_dl = DataLoader(val_set, batch_size=512, num_workers=4, persistent_workers=True)
    test_dl = DataLoader(test_set, batch_size=512, num_workers=4)

    model = LitConvNet(lr=args.lr, epochs=args.epochs, steps_per_epoch=len(train_dl))
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="auto", deterministic=True)
    trainer.fit(model, train_dl, val_dl)
    trainer.test(model, test_dl)


if __name__ == "__main__":
    main()
