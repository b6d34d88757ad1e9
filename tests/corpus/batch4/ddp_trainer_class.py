"""Multi-GPU trainer for the retrieval encoder. Launch with torchrun."""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from encoder import DualEncoder
from pairs import PairDataset


@dataclass
class Config:
    data: str = "data/pairs.jsonl"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-5
    temperature: float = 0.05
    out: str = "ckpt/encoder.pt"


class Trainer:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        dist.init_process_group(backend="nccl")
        self.rank = dist.get_rank()
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(self.local_rank)
        self.device = torch.device("cuda", self.local_rank)
        torch.manual_seed(1000 + self.rank)

        dataset = PairDataset(cfg.data)
        self.sampler = DistributedSampler(dataset, shuffle=True, seed=1000)
        self.loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=4, pin_memory=True, drop_last=True)
        model = DualEncoder().to(self.device)
        self.model = DistributedDataParallel(model, device_ids=[self.local_rank])
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr)

    def contrastive_loss(self, q, d):
        q = F.normalize(q, dim=-1)
        d = F.normalize(d, dim=-1)
        logits = q @ d.t() / self.cfg.temperature
        labels = torch.arange(q.size(0), device=q.device)
        return F.cross_entropy(logits, labels)

    def train_epoch(self, epoch):
        self.model.train()
        total = torch.zeros((), device=self.device)
        for step, (queries, docs) in enumerate(self.loader):
            queries = {k: v.to(self.device, non_blocking=True) for k, v in queries.items()}
            docs = {k: v.to(self.device, non_blocking=True) for k, v in docs.items()}
            q, d = self.model(queries, docs)
            loss = self.contrastive_loss(q, d)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        dist.all_reduce(total)
        return total.item() / (len(self.loader) * dist.get_world_size())

    def save(self):
        if self.rank == 0:
            os.makedirs(os.path.dirname(self.cfg.out), exist_ok=True)
            torch.save(self.model.module.state_dict(), self.cfg.out)

    def fit(self):
        for epoch in range(self.cfg.epochs):
            loss = self.train_epoch(epoch)
            if self.rank == 0:
                print(f"epoch {epoch} loss {loss:.4f}")
            self.save()
        dist.destroy_process_group()


if __name__ == "__main__":
    Trainer(Config()).fit()
