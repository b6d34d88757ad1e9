"""LightningModule + script for MNIST; the framework switches train/eval mode and grad for the hooks."""
import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms


class LitMNIST(L.LightningModule):
    def __init__(self, hidden=128, lr=2e-4, p_drop=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.model = nn.Sequential(
            nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Dropout(p_drop),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(p_drop), nn.Linear(hidden, 10),
        )

    def forward(self, x):
        return F.log_softmax(self.model(x), dim=1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.nll_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = F.nll_loss(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log_dict({"val_loss": loss, "val_acc": acc}, prog_bar=True)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_acc", (self(x).argmax(dim=1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


if __name__ == "__main__":
    L.seed_everything(42)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    full = datasets.MNIST("data", train=True, download=True, transform=tf)
    train_set, val_set = random_split(full, [55000, 5000], generator=torch.Generator().manual_seed(42))
    test_set = datasets.MNIST("data", train=False, transform=tf)
    g = torch.Generator().manual_seed(42)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=4, pin_memory=True,
                              persistent_workers=True, generator=g)
    val_loader = DataLoader(val_set, batch_size=256, num_workers=4, pin_memory=True, persistent_workers=True)
    test_loader = DataLoader(test_set, batch_size=256, num_workers=4, pin_memory=True)
    trainer = L.Trainer(max_epochs=5, accelerator="auto", devices="auto")
    trainer.fit(LitMNIST(), train_loader, val_loader)
    trainer.test(ckpt_path="best", dataloaders=test_loader)
