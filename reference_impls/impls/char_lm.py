"""A character-level causal transformer language model (nanoGPT style) on the small text shipped with the package.

Pre-LayerNorm blocks, fused causal attention (scaled_dot_product_attention), tied input/output embeddings,
AdamW without weight decay on gains, biases and embeddings, linear warm-up then cosine decay. The metric is validation loss
in bits per character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from pytorch_patterns.reference_impls import common
from pytorch_patterns.reference_impls.common import TrainConfig, TrainHooks, TrainResult
from pytorch_patterns.reference_impls.harness import Run
from pytorch_patterns.skill.generate.choices import param_groups

CORPUS_PATH = Path(__file__).resolve().parent.parent / "data" / "corpus.txt"


class Config(TrainConfig):
    block_size: int = 64
    window_stride: int = 8
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 10
    weight_decay: float = 0.1
    steps: int = 100


@dataclass
class TextData:
    vocab: list[str]  # id -> character
    train_windows: torch.Tensor  # (N_train, T+1) int64 token ids; inputs are [:, :-1], targets [:, 1:]
    val_windows: torch.Tensor  # (N_val, T+1)


def build_data(cfg: Config) -> TextData:
    text = CORPUS_PATH.read_text(encoding="utf-8")
    vocab = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(vocab)}
    ids = torch.tensor([stoi[ch] for ch in text], dtype=torch.long)  # (L,)
    split = int(0.9 * len(ids))
    # Overlapping windows of T+1 tokens; the last token of each window is the target of the one before.
    train = ids[:split].unfold(0, cfg.block_size + 1, cfg.window_stride)  # (N_train, T+1)
    val = ids[split:].unfold(0, cfg.block_size + 1, cfg.block_size)  # (N_val, T+1), non-overlapping
    return TextData(vocab, train.contiguous(), val.contiguous())


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).split(c, dim=2)  # 3 x (B, T, C)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(b, t, c)  # (B, T, C): heads side by side again
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # (B, T, C)
        return x + self.mlp(self.ln2(x))  # (B, T, C)


class CharTransformer(nn.Module):
    def __init__(self, cfg: Config, vocab_size: int) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]  # idx: (B, T) token ids
        pos = torch.arange(t, device=idx.device)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C) + (T, C) -> (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.head(self.ln_f(x))  # (B, T, V) logits


def build_model(cfg: Config, vocab_size: int = 0) -> nn.Module:
    if vocab_size <= 0:
        vocab_size = len(build_data(cfg).vocab)
    return CharTransformer(cfg, vocab_size)


def build_optimizer(cfg: Config, model: nn.Module) -> torch.optim.Optimizer:
    # Weight decay on matrices only; LayerNorm gains, biases and the (tied) embedding are excluded
    # (skill/generate/choices.py).
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))


@torch.inference_mode()
def evaluate(model: nn.Module, data: TextData, cfg: Config, device: torch.device) -> float:
    """Mean validation cross-entropy in bits per character, under the same autocast as training."""
    model.eval()
    loader = DataLoader(common.InMemoryDataset(data.val_windows), batch_size=64, collate_fn=common.keep_batch,
                        pin_memory=device.type == "cuda")  # fixed order, every window
    total = torch.zeros((), device=device)
    for (w,) in loader:
        w = w.to(device, non_blocking=True)  # (B, T+1)
        with common.autocast(device, cfg.amp):
            logits = model(w[:, :-1])  # (B, T, V)
        # Summed in fp32: (B*T, V) vs (B*T,)
        total += F.cross_entropy(logits.float().flatten(0, 1), w[:, 1:].flatten(), reduction="sum")
    n_tokens = data.val_windows.shape[0] * (data.val_windows.shape[1] - 1)
    return total.item() / n_tokens / math.log(2)


def lr_lambda(cfg: Config):
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps  # linear warm-up
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))  # cosine down to 10%
    return factor


def train(cfg: Config, hooks: TrainHooks | None = None) -> TrainResult:
    run = Run(cfg, hooks)  # seeds everything; picks run.device and the precision (run.amp)
    device = run.device

    data = build_data(cfg)
    train_set = common.InMemoryDataset(data.train_windows)
    loader = DataLoader(
        train_set,
        # Shuffled windows; the order is a function of (seed, epoch), so a resume can start mid-epoch.
        batch_sampler=common.EpochBatchSampler(len(train_set), cfg.batch_size, seed=cfg.seed, shuffle=True,
                                               drop_last=False),
        collate_fn=common.keep_batch,  # __getitems__ already returns the (windows,) batch
        num_workers=0,  # in-memory token ids: one indexing op per batch in-process
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # creating an iterator must not draw the global RNG
    )
    batches = common.LoaderCursor(loader)  # steps across epoch boundaries; its position is checkpointed

    model = build_model(cfg, len(data.vocab)).to(device)
    step_model = common.maybe_compile(model, cfg.compile)
    optimizer = build_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    scaler = torch.amp.GradScaler(device.type, enabled=run.amp == "fp16")
    run.track(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, loader=batches)

    model.train()
    for _ in run.steps():
        (windows,) = batches.next_batch()
        windows = windows.to(device, non_blocking=True)  # (B, T+1)
        x, y = windows[:, :-1], windows[:, 1:]  # (B, T) inputs, (B, T) next-character targets
        with run.autocast():
            logits = step_model(x)  # (B, T, V)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())  # (B*T, V) vs (B*T,)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        run.record(loss, items=x.numel())  # throughput in tokens

    return run.finish(lambda: evaluate(model, data, cfg, device), metric="val_bits_per_char", unit="tokens/s")


if __name__ == "__main__":
    print(train(Config()).model_dump_json(indent=2))
