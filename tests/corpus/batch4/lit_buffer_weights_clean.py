"""Lightning segmentation module: class weights and the normalisation constants are registered buffers."""
import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.segmentation import deeplabv3_resnet50


class SegModule(L.LightningModule):
    def __init__(self, num_classes, class_freq, lr=1e-3, ignore_index=255):
        super().__init__()
        self.save_hyperparameters()
        self.net = deeplabv3_resnet50(weights=None, weights_backbone="DEFAULT", num_classes=num_classes)
        freq = torch.tensor(class_freq, dtype=torch.float32)
        self.register_buffer("class_weights", 1.0 / torch.log(1.02 + freq / freq.sum()))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.temperature = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)["out"] / self.temperature

    def _loss(self, logits, mask):
        return F.cross_entropy(logits, mask, weight=self.class_weights, ignore_index=self.hparams.ignore_index)

    def training_step(self, batch, batch_idx):
        img, mask = batch
        loss = self._loss(self(img), mask)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        img, mask = batch
        logits = self(img)
        pred = logits.argmax(1)
        valid = mask != self.hparams.ignore_index
        self.log("val/loss", self._loss(logits, mask), sync_dist=True)
        self.log("val/pixel_acc", (pred[valid] == mask[valid]).float().mean(), sync_dist=True)

    def configure_optimizers(self):
        decay, no_decay = [], []
        for n, p in self.named_parameters():
            (no_decay if p.ndim <= 1 else decay).append(p)
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=self.trainer.max_epochs, power=0.9)
        return [opt], [sched]


if __name__ == "__main__":
    from seg_data import make_loaders  # local

    L.seed_everything(1)
    train_dl, val_dl, freq = make_loaders("data/cityscapes", batch_size=8)
    trainer = L.Trainer(max_epochs=80, accelerator="auto", precision="16-mixed", gradient_clip_val=1.0)
    trainer.fit(SegModule(num_classes=19, class_freq=freq), train_dl, val_dl)
