"""Face-embedding training from an LMDB of JPEG bytes; the env is opened lazily in each worker."""
import io
import pickle

import lmdb
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from arcface import ArcMarginProduct, iresnet50  # local


class LmdbFaces(Dataset):
    def __init__(self, path, transform):
        self.path = path
        self.transform = transform
        self.env = None
        env = lmdb.open(path, readonly=True, lock=False, readahead=False)
        with env.begin() as txn:
            self.length = pickle.loads(txn.get(b"__len__"))
        env.close()

    def _open(self):
        self.env = lmdb.open(self.path, readonly=True, lock=False, readahead=False, meminit=False)

    def __len__(self):
        return self.length

    def __getitem__(self, idx):
        if self.env is None:
            self._open()
        with self.env.begin(write=False) as txn:
            jpeg, label = pickle.loads(txn.get(f"{idx:08d}".encode()))
        img = Image.open(io.BytesIO(jpeg)).convert("RGB")
        return self.transform(img), label


def seed_worker(worker_id):
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


def collate_keep_labels(batch):
    imgs, labels = zip(*batch)
    return torch.stack(imgs), torch.tensor(labels, dtype=torch.long)


def main():
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize([0.5] * 3, [0.5] * 3)])
    ds = LmdbFaces("data/ms1m.lmdb", tf)
    g = torch.Generator()
    g.manual_seed(0)
    loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=12, pin_memory=True, drop_last=True,
                        worker_init_fn=seed_worker, generator=g, collate_fn=collate_keep_labels,
                        persistent_workers=True)

    backbone = iresnet50().to(device)
    head = ArcMarginProduct(512, 85742, s=64.0, m=0.5).to(device)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10, 18, 22], gamma=0.1)

    for epoch in range(24):
        backbone.train()
        head.train()
        for step, (imgs, labels) in enumerate(loader):
            imgs, labels = imgs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            emb = F.normalize(backbone(imgs))
            loss = F.cross_entropy(head(emb, labels), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            if step % 500 == 0:
                print(f"epoch {epoch} step {step} loss {loss.item():.3f}")
        sched.step()
        torch.save(backbone.state_dict(), f"ckpt/backbone_{epoch}.pt")


if __name__ == "__main__":
    main()
