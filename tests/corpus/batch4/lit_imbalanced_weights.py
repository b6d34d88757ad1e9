"""Lightning module for an imbalanced defect classifier (class weights from the training label counts)."""
import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchmetrics.classification import MulticlassF1Score


class DefectClassifier(L.LightningModule):
    def __init__(self, class_counts, lr=3e-4, backbone="resnet34"):
        super().__init__()
        self.save_hyperparameters()
        net = getattr(torchvision.models, backbone)(weights="DEFAULT")
        net.fc = nn.Linear(net.fc.in_features, len(class_counts))
        self.net = net
        counts = torch.tensor(class_counts, dtype=torch.float32)
        self.class_weights = counts.sum() / (len(class_counts) * counts)
        self.f1 = MulticlassF1Score(num_classes=len(class_counts), average="macro")

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y, weight=self.class_weights)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val/loss", F.cross_entropy(logits, y, weight=self.class_weights), prog_bar=True)
        self.f1.update(logits, y)

    def on_validation_epoch_end(self):
        self.log("val/f1", self.f1.compute(), prog_bar=True)
        self.f1.reset()

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4)
        steps = self.trainer.estimated_stepping_batches
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.hparams.lr, total_steps=steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


if __name__ == "__main__":
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    L.seed_everything(0)
    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    val_tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])
    train_ds = datasets.ImageFolder("data/defects/train", tf)
    val_ds = datasets.ImageFolder("data/defects/val", val_tf)
    counts = [0] * len(train_ds.classes)
    for _, label in train_ds.samples:
        counts[label] += 1
    model = DefectClassifier(counts)
    trainer = L.Trainer(max_epochs=30, accelerator="gpu", devices=1, precision="bf16-mixed")
    trainer.fit(model, DataLoader(train_ds, batch_size=64, shuffle=True, num_workers=8),
                DataLoader(val_ds, batch_size=128, num_workers=8))
