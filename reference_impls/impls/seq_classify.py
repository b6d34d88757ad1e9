"""Variable-length sequence classification: padding collate_fn, packed sequences, an LSTM.

The DataLoader's shuffle order comes from a seeded generator whose state is saved in checkpoints (exact resume).

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

from reference_impls import common
from reference_impls.common import TrainConfig, TrainHooks, TrainResult

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
    grad_clip: float = 1.0
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


@torch.inference_mode()
def evaluate(model: nn.Module, data: SequenceData, cfg: Config, device: torch.device) -> float:
    """Accuracy on the validation split, in fixed order (no shuffling, keep the last partial batch)."""
    model.eval()
    loader = DataLoader(data.val, batch_size=256, shuffle=False, collate_fn=pad_collate, pin_memory=device.type == "cuda")
    correct = torch.zeros((), dtype=torch.long, device=device)
    for tokens, lengths, labels in loader:
        tokens, labels = tokens.to(device), labels.to(device)  # (B, T_max), (B,)
        correct += (model(tokens, lengths).argmax(dim=1) == labels).sum()
    return correct.item() / len(data.val)


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    hooks = hooks or TrainHooks()
    common.seed_everything(cfg.seed)
    device = common.pick_device(cfg.device)
    amp = common.resolve_amp(device, cfg.amp)
    amp_dtype = common.AMP_DTYPES[amp]

    data = build_data(cfg)
    # Items are small in-memory tensors: worker processes would only add IPC, so num_workers=0.
    # The shuffle order comes from this generator; its state is part of every checkpoint.
    loader_generator = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(data.train, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                              collate_fn=pad_collate, generator=loader_generator, num_workers=0,
                              pin_memory=device.type == "cuda")
    batches = common.LoaderCursor(train_loader, loader_generator)

    model = build_model(cfg).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, cfg.steps // 2), gamma=0.3)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")

    start_step = 0
    if hooks.resume:
        ckpt = common.load_checkpoint(hooks.checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                                      scaler=scaler, device=device)
        batches.load_state_dict(ckpt["loader"])
        start_step = ckpt["step"]
    end_step = cfg.steps if hooks.stop_at is None else min(cfg.steps, hooks.stop_at)

    loss_history: list[torch.Tensor] = []
    clock = common.TrainClock(device, compiling=cfg.compile)
    model.train()
    clock.start()
    for step in range(start_step, end_step):
        tokens, lengths, labels = batches.next_batch()  # (B, T_max), (B,) on CPU, (B,)
        tokens = tokens.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = step_model(tokens, lengths)  # (B, 2)
            loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip true gradients (RNNs need clipping)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()

        loss_history.append(loss.detach())
        clock.step_done(tokens.shape[0])
        if hooks.on_log is not None and (step + 1) % cfg.log_every == 0:
            hooks.on_log(step + 1, cfg.steps, loss.item())
    clock.stop()

    if hooks.checkpoint_path is not None:
        common.save_checkpoint(hooks.checkpoint_path, model=model, optimizer=optimizer, scheduler=scheduler,
                               scaler=scaler, step=end_step, loader_state=batches.state_dict(), cfg=cfg)
    paused = end_step < cfg.steps
    eval_timer = common.Timer(device)
    metric = None
    if not paused:
        with eval_timer:
            metric = evaluate(model, data, cfg, device)
    return TrainResult(
        start_step=start_step, steps_run=end_step - start_step, losses=common.losses_to_floats(loss_history),
        metric_name="val_accuracy", eval_metric=metric, throughput_unit="samples/s", items_processed=clock.items,
        train_s=clock.train_s, compile_s=clock.compile_s, eval_s=eval_timer.seconds, device=str(device), amp=amp,
        paused=paused,
    )


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
