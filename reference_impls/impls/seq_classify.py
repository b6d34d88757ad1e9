"""Variable-length sequence classification: padding collate_fn, packed sequences, an LSTM.

The DataLoader's shuffle order is a function of (seed, epoch); a resumed run starts mid-epoch at the sampler.

Synthetic task: a sequence of random tokens is positive when it contains the marker token, wherever it is, so
the model has to read the whole (variable) length. Padding must not leak into the answer: packing guarantees it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader, Dataset

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult
from pytorch_patterns.reference_impls.harness import Run

PAD_ID = 0
MARKER_ID = 1


class Config(TrainConfig):
    n_train: int = 2048
    n_val: int = 512
    vocab_size: int = 32
    min_len: int = 4
    max_len: int = 40
    embed_dim: int = 32
    hidden: int = 64
    batch_size: int = 64
    lr: float = 3e-3
    steps: int = 120


class VarLenDataset(Dataset):
    """(tokens, label) pairs; tokens is a 1-D int64 tensor whose length differs between items."""

    def __init__(self, sequences: list[torch.Tensor], labels: torch.Tensor) -> None:
        self.sequences = sequences
        self.labels = labels

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sequences[i], self.labels[i]


def pad_collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad a batch to its own longest sequence; keep the true lengths for packing."""
    sequences, labels = zip(*items)
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)  # (B,) stays on the CPU for packing
    padded = pad_sequence(list(sequences), batch_first=True, padding_value=PAD_ID)  # (B, T_max)
    return padded, lengths, torch.stack(labels)  # (B, T_max), (B,), (B,)


@dataclass
class SequenceData:
    train: VarLenDataset
    val: VarLenDataset


def build_data(cfg: Config) -> SequenceData:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    n = cfg.n_train + cfg.n_val
    lengths = torch.randint(cfg.min_len, cfg.max_len + 1, (n,), generator=g)  # (N,)
    labels = torch.randint(0, 2, (n,), generator=g)  # (N,)
    sequences = []
    for length, label in zip(lengths.tolist(), labels.tolist()):
        seq = torch.randint(MARKER_ID + 1, cfg.vocab_size, (length,), generator=g)  # (L,) no marker, no padding
        if label == 1:
            seq[torch.randint(0, length, (1,), generator=g)] = MARKER_ID
        sequences.append(seq)
    return SequenceData(VarLenDataset(sequences[: cfg.n_train], labels[: cfg.n_train]),
                        VarLenDataset(sequences[cfg.n_train:], labels[cfg.n_train:]))


class LSTMClassifier(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden, batch_first=True)
        self.head = nn.Linear(cfg.hidden, 2)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (B, T_max) -> (B, T_max, E)
        # Packing makes the LSTM stop at each sequence's true end; h_n is then the last *real* step.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n: (num_layers, B, H), in the original batch order
        return self.head(h_n[-1])  # (B, H) -> (B, 2) logits


def build_model(cfg: Config) -> nn.Module:
    return LSTMClassifier(cfg)


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)  # no weight decay at all: nothing to exclude


@torch.inference_mode()
def evaluate(model: nn.Module, data: SequenceData, cfg: Config, device: torch.device) -> float:
    """Accuracy on the validation split, in fixed order (no shuffling, keep the last partial batch)."""
    model.eval()
    loader = DataLoader(data.val, batch_size=256, shuffle=False, collate_fn=pad_collate, pin_memory=device.type == "cuda")
    correct = torch.zeros((), dtype=torch.long, device=device)
    for tokens, lengths, labels in loader:
        tokens, labels = tokens.to(device, non_blocking=True), labels.to(device, non_blocking=True)  # (B, T_max), (B,)
        with common.autocast(device, cfg.amp):
            logits = model(tokens, lengths)  # (B, 2)
        correct += (logits.argmax(dim=1) == labels).sum()
    return correct.item() / len(data.val)


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    run = Run(cfg, hooks)  # seeds everything; picks run.device and the precision (run.amp)
    device = run.device

    data = build_data(cfg)
    loader = DataLoader(
        data.train,
        # Shuffled batches; the order is a function of (seed, epoch), so a resume can start mid-epoch.
        batch_sampler=common.EpochBatchSampler(len(data.train), cfg.batch_size, seed=cfg.seed, shuffle=True,
                                               drop_last=False),
        collate_fn=pad_collate,  # pads each batch to its own longest sequence
        num_workers=0,  # items are small in-memory tensors: worker processes would only add IPC
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, cfg.steps // 2), gamma=0.3)
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)

    model.train()
    for _ in run.steps():
        tokens, lengths, labels = batches.next_batch()  # (B, T_max), (B,) stays on the CPU for packing, (B,)
        tokens = tokens.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with run.autocast():
            logits = step_model(tokens, lengths)  # (B, 2)
            loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None:  # RNNs need clipping
            scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        run.record(loss, items=tokens.shape[0])

    return run.finish(lambda: evaluate(model, data, cfg, device), metric="val_accuracy", unit="samples/s")


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
