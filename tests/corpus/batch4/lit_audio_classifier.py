import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy

from esc50 import ESC50  # local dataset wrapper


class AudioCNN(L.LightningModule):
    def __init__(self, n_classes=50, lr=1e-3, p_drop=0.25):
        super().__init__()
        self.save_hyperparameters()
        self.melspec = torchaudio.transforms.MelSpectrogram(sample_rate=44100, n_fft=2048, hop_length=512, n_mels=128)
        self.db = torchaudio.transforms.AmplitudeToDB()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        )
        self.fc1 = nn.Linear(128, 128)
        self.fc2 = nn.Linear(128, n_classes)
        self.val_acc = MulticlassAccuracy(num_classes=n_classes)

    def forward(self, wav):
        x = self.db(self.melspec(wav)).unsqueeze(1)
        x = self.features(x).flatten(1)
        x = F.dropout(F.relu(self.fc1(x)), p=self.hparams.p_drop)
        return self.fc2(x)

    def training_step(self, batch, batch_idx):
        wav, y = batch
        loss = F.cross_entropy(self(wav), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        wav, y = batch
        logits = self(wav)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True)
        self.val_acc(logits, y)
        self.log("val_acc", self.val_acc, on_epoch=True)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.trainer.max_epochs)
        return {"optimizer": opt, "lr_scheduler": sched}


class ESCData(L.LightningDataModule):
    def __init__(self, root="data/ESC-50", fold=5, batch_size=32):
        super().__init__()
        self.root, self.fold, self.batch_size = root, fold, batch_size

    def setup(self, stage=None):
        self.train_set = ESC50(self.root, folds=[f for f in range(1, 6) if f != self.fold])
        self.val_set = ESC50(self.root, folds=[self.fold])

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=4)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=4)


if __name__ == "__main__":
    L.seed_everything(42)
    trainer = L.Trainer(max_epochs=60, accelerator="auto", precision="16-mixed", log_every_n_steps=10)
    trainer.fit(AudioCNN(), datamodule=ESCData())
