"""PyTorch Lightning module for multi-label chest X-ray classification."""
import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader

from xray_data import ChestXrayDataset


class XrayClassifier(L.LightningModule):
    def __init__(self, num_labels=14, lr=3e-4, p_drop=0.3):
        super().__init__()
        self.save_hyperparameters()
        backbone = torchvision.models.densenet121(pretrained=True)
        backbone.classifier = nn.Identity()
        self.backbone = backbone
        self.head = nn.Linear(1024, num_labels)

    def forward(self, x):
        feats = self.backbone(x)
        feats = F.dropout(feats, p=self.hparams.p_drop)
        return self.head(feats)

    def training_step(self, batch, batch_idx):
        images, targets = batch
        probs = torch.sigmoid(self(images))
        loss = F.binary_cross_entropy(probs, targets.float())
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        images, targets = batch
        logits = self(images)
        loss = F.binary_cross_entropy_with_logits(logits, targets.float())
        self.log("val_loss", loss, prog_bar=True, sync_dist=True)

    def predict_step(self, batch, batch_idx):
        images, _ = batch
        return torch.sigmoid(self(images))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-5)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


if __name__ == "__main__":
    L.seed_everything(7, workers=True)
    train_loader = DataLoader(ChestXrayDataset("train.csv", train=True), batch_size=32, shuffle=True,
                              num_workers=8, pin_memory=True, persistent_workers=True,
                              generator=torch.Generator().manual_seed(7))
    val_loader = DataLoader(ChestXrayDataset("val.csv", train=False), batch_size=64, num_workers=8,
                            pin_memory=True)
    trainer = L.Trainer(max_epochs=20, accelerator="auto", precision="bf16-mixed", log_every_n_steps=20)
    trainer.fit(XrayClassifier(), train_loader, val_loader)
