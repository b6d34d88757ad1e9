"""Templates of the train-loop program: model, loss, checkpointing, schedule, evaluation, main."""

MODEL_TEMPLATE = '''
# ----------------------------------------------------------------------------- model
@@if mlp@@
class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, dropout: float):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * num_layers
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims, dims[1:]):
            layers += [nn.Linear(d_in, d_out), $mlp_block]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, D) -> (B, out_dim)
@@end@@
@@if cnn@@
def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not BATCH_NORM),
@@batch_norm@@         nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvNet(nn.Module):
    """conv-BN-ReLU blocks, each halving H and W, then global average pooling and a linear head."""

    def __init__(self, in_channels: int, num_classes: int, base_channels: int, num_layers: int, dropout: float):
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_channels
        for i in range(num_layers):
            blocks += [conv_block(channels, base_channels * 2**i), nn.MaxPool2d(2)]
            channels = base_channels * 2**i
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H, W) -> (B, C_last, H / 2**L, W / 2**L)
        x = x.mean(dim=(2, 3))  # (B, C_last)
        return self.head(x)  # (B, num_classes)
@@end@@
@@if seg@@
def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not BATCH_NORM),
@@batch_norm@@         nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SegmentationNet(nn.Module):
    """Fully convolutional: same-resolution conv blocks, then a 1x1 conv to per-pixel class logits."""

    def __init__(self, in_channels: int, num_classes: int, base_channels: int, num_layers: int, dropout: float):
        super().__init__()
        blocks: list[nn.Module] = []
        channels = in_channels
        for _ in range(num_layers):
            blocks.append(conv_block(channels, base_channels))
            channels = base_channels
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C_in, H, W) -> (B, base_channels, H, W)
        return self.classifier(self.dropout(x))  # (B, num_classes, H, W)
@@end@@
@@if lm@@
class CausalTransformer(nn.Module):
    """A small GPT-style decoder: token + position embeddings, pre-norm blocks, causal mask."""

    def __init__(self, vocab_size: int, seq_len: int, dim: int, num_layers: int, num_heads: int, dropout: float):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Embedding(seq_len, dim)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)
        # Built once here (a buffer follows .to(device)); -inf above the diagonal blocks the future.
        self.register_buffer("causal_mask", nn.Transformer.generate_square_subsequent_mask(seq_len), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        seq_len = tokens.size(1)
        positions = torch.arange(seq_len, device=tokens.device)  # (T,)
        h = self.token_embedding(tokens) + self.position_embedding(positions)  # (B, T, D)
        h = self.blocks(h, mask=self.causal_mask[:seq_len, :seq_len], is_causal=True)  # (B, T, D)
        return self.head(self.norm(h))  # (B, T, vocab_size)
@@end@@
@@if seqcls@@
class SequenceClassifier(nn.Module):
    """Transformer encoder over tokens, masked mean pooling over real (non-pad) positions, linear head."""

    def __init__(
        self, vocab_size: int, max_len: int, dim: int, num_layers: int, num_heads: int, dropout: float, num_classes: int
    ):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        keep = tokens != PAD_ID  # (B, T) True at real tokens
        positions = torch.arange(tokens.size(1), device=tokens.device)  # (T,)
        h = self.token_embedding(tokens) + self.position_embedding(positions)  # (B, T, D)
        h = self.norm(self.blocks(h, src_key_padding_mask=~keep))  # (B, T, D)
        weights = keep.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        pooled = (h * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, D)
        return self.head(pooled)  # (B, num_classes)
@@end@@


def compute_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
@@task_classification@@     return F.cross_entropy(outputs, targets)  # logits (B, C), class ids (B,)
@@task_sequence_classification@@     return F.cross_entropy(outputs, targets)  # logits (B, C), class ids (B,)
@@task_regression@@     return F.mse_loss(outputs, targets)  # (B, T) each
@@task_segmentation@@     # logits (B, C, H, W) -> (B*H*W, C), class ids (B, H, W) -> (B*H*W,): the 1-D loss kernel is deterministic on CUDA
@@task_segmentation@@     return F.cross_entropy(outputs.movedim(1, -1).flatten(0, 2), targets.flatten())
@@task_language_modelling@@     return F.cross_entropy(outputs.flatten(0, 1), targets.flatten())  # (B*T, V), (B*T,)
@@if ema@@


@torch.no_grad()
def ema_update(ema_tensors: list, model_tensors: list, num_averaged: torch.Tensor) -> None:
    """EMA with warm-up: decay = min(EMA_DECAY, (1 + n) / (10 + n)) after n updates.

    A fixed 0.999 from step 1 keeps the average near the random init for the first ~1000 steps, while
    evaluation, best.pt and early stopping follow it; the ramp lets early averages track the model."""
    n = int(num_averaged)
    decay = min(EMA_DECAY, (1 + n) / (10 + n))
    if torch.is_floating_point(ema_tensors[0]):
        torch._foreach_lerp_(ema_tensors, model_tensors, 1.0 - decay)
    else:  # integer buffers (BatchNorm's num_batches_tracked) are counts: copy them
        torch._foreach_copy_(ema_tensors, model_tensors)
@@end@@
'''

CHECKPOINT_TEMPLATE = '''
# ----------------------------------------------------------------------------- checkpoints
def capture_rng_state() -> dict:
    """Every RNG the run draws from, so a resumed run continues the same random stream."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"python": random.getstate(), "torch": torch.get_rng_state(), "cuda": cuda}


def restore_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_file(obj: dict, path: Path) -> None:
@@if atomic@@
    # Write a temp file, then rename: a crash mid-write never leaves a truncated checkpoint.
    tmp_path = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp_path)
    os.replace(tmp_path, path)
@@else@@
    torch.save(obj, path)
@@end@@


def save_checkpoint(state: dict, output_dir: Path, step: int, keep_last: int = KEEP_LAST_CHECKPOINTS) -> None:
    """Save ckpt_step<step>.pt; keep the newest `keep_last` (zero-padded names sort oldest first)."""
    write_file(state, output_dir / f"ckpt_step{step:08d}.pt")
    for old in sorted(output_dir.glob("ckpt_step*.pt"))[:-keep_last]:
        old.unlink()


def load_checkpoint(path: Path) -> dict:
    # weights_only=True: only tensors and plain containers are unpickled (no code execution).
    # map_location="cpu": a GPU-saved checkpoint loads anywhere; load_state_dict moves to the device.
    return torch.load(path, map_location="cpu", weights_only=True)
'''

SCHEDULE_TEMPLATE = '''
# ----------------------------------------------------------------------------- optimisation
def build_optimizer(model: nn.Module, args, device: torch.device) -> torch.optim.Optimizer:
@@if decay_groups@@
@@if embedding_no_decay@@
    # Weight decay on weight matrices only: biases, norm gains/shifts (all 1-D) and embedding rows are left alone.
    embedding = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2 and id(p) not in embedding]
    no_decay = [p for p in params if p.dim() < 2 or id(p) in embedding]
@@else@@
    # Weight decay on weight matrices only: biases and norm gains/shifts (all 1-D) are left alone.
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
@@end@@
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
@@else@@
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": args.weight_decay}]
@@end@@
@@opt_adamw@@     return torch.optim.AdamW(groups, lr=args.lr, betas=BETAS, fused=device.type == "cuda")
@@opt_adam@@     return torch.optim.Adam(groups, lr=args.lr, betas=BETAS, fused=device.type == "cuda")
@@opt_sgd@@     return torch.optim.SGD(groups, lr=args.lr, momentum=MOMENTUM, nesterov=True, fused=device.type == "cuda")
@@if lambda_schedule@@


@@if sched_constant@@
def lr_factor(step: int, warmup_steps: int) -> float:
    """Multiplier of the base LR: linear warm-up, then constant."""
    return min(1.0, (step + 1) / warmup_steps)
@@else@@
def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base LR: linear warm-up, then $schedule_name decay to MIN_LR_RATIO."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
@@sched_cosine@@     return MIN_LR_RATIO + (1.0 - MIN_LR_RATIO) * 0.5 * (1.0 + math.cos(math.pi * progress))
@@sched_linear@@     return MIN_LR_RATIO + (1.0 - MIN_LR_RATIO) * (1.0 - progress)
@@end@@
@@end@@
'''

EVAL_TEMPLATE = '''
# ----------------------------------------------------------------------------- evaluation
@torch.$eval_grad_mode()  # no autograd bookkeeping at all: evaluation returns plain numbers
@@has_test@@ def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, split: str = "val") -> dict:
@@!has_test@@ def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> dict:
@@ddp@@     """Mean loss$accuracy_doc over the loader; the sums are all-reduced across DDP ranks."""
@@!ddp@@     """Mean loss$accuracy_doc over the loader."""
    model.eval()
@@accuracy@@     totals = torch.zeros(3, device=device)  # [loss sum, correct, count]
@@!accuracy@@     totals = torch.zeros(2, device=device)  # [loss sum, count]
    for inputs, targets in loader:
        inputs = inputs.to(device, non_blocking=True)  # $input_shape
        targets = targets.to(device, non_blocking=True)  # $target_shape
@@if eval_autocast@@
        with torch.autocast(device_type=device.type, dtype=AMP_DTYPE):  # the precision it trained in
            outputs = model(inputs)  # $output_shape
@@else@@
        outputs = model(inputs)  # $output_shape
@@end@@
        totals[0] += compute_loss(outputs.float(), targets) * targets.numel()
@@accuracy@@         totals[1] += (outputs.argmax(dim=$class_dim) == targets).sum()  # correct $correct_unit
        totals[-1] += targets.numel()
@@if ddp@@
    if dist.is_initialized():
        dist.all_reduce(totals)  # each rank evaluated its own shard
@@end@@
@@if accuracy@@
    loss_sum, correct, count = totals.tolist()
@@has_test@@     return {f"{split}_loss": loss_sum / count, f"{split}_accuracy": correct / count}
@@!has_test@@     return {"val_loss": loss_sum / count, "val_accuracy": correct / count}
@@else@@
    loss_sum, count = totals.tolist()
@@has_test@@     return {f"{split}_loss": loss_sum / count}
@@!has_test@@     return {"val_loss": loss_sum / count}
@@end@@


def log_metrics(path: Path, record: dict) -> None:
    \"\"\"Append one JSON line to metrics.jsonl and echo it.\"\"\"
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\\n")
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
'''

MAIN_TEMPLATE = """
# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-path", default=$data_path, help="dataset location (ignored with --synthetic-data)")
    parser.add_argument("--synthetic-data", action="store_true", help="random data of the right shapes")
    parser.add_argument("--synthetic-size", type=int, default=$synthetic_size)
    parser.add_argument("--output-dir", default="out", help="checkpoints and metrics.jsonl go here")
    parser.add_argument("--epochs", type=int, default=$epochs)
    parser.add_argument("--max-steps", type=int, default=$max_steps, help="optimizer steps; LR schedule length")
    parser.add_argument("--stop-at-step", type=int, default=None, help="checkpoint and exit early (time-limited jobs)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    parser.add_argument("--seed", type=int, default=$seed)
    parser.add_argument("--device", default="$device", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--num-threads", type=int, default=None, help="torch CPU threads (fix it for bitwise repeats)")
    parser.add_argument("--deterministic", action="store_true", help="deterministic CUDA kernels (bitwise GPU repeats)")
    parser.add_argument("--batch-size", type=int, default=$batch_size, help="per process, per micro-step")
    parser.add_argument("--grad-accum-steps", type=int, default=$grad_accum_steps)
    parser.add_argument("--lr", type=float, default=$lr)
    parser.add_argument("--weight-decay", type=float, default=$weight_decay)
@@clip@@     parser.add_argument("--clip-grad-norm", type=float, default=$clip_grad_norm)
    parser.add_argument("--num-workers", type=int, default=$num_workers, help="default: 0 in memory, else min(8, cpus)")
    parser.add_argument("--val-fraction", type=float, default=$val_fraction)
@@has_test@@     parser.add_argument("--test-fraction", type=float, default=$test_fraction)
    parser.add_argument("--log-interval", type=int, default=$log_interval)
    parser.add_argument("--eval-interval", type=int, default=$eval_interval, help="steps; default: each epoch end")
@@checkpoint_every@@     parser.add_argument("--checkpoint-interval", type=int, default=$checkpoint_every, help="steps")
@@early_stopping@@     parser.add_argument("--patience", type=int, default=$patience, help="evaluations without improvement")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=$compile)
    return parser.parse_args(argv)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    return torch.device(name)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = pick_device(args.device)
@@if ddp@@
    # torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is a single-process run.
    ddp = "RANK" in os.environ
    rank, local_rank = int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if ddp:
        if device.type == "cuda":
            device = torch.device(device.type, local_rank)  # one GPU per process
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    is_main = rank == 0  # only rank 0 writes files
@@end@@
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = output_dir / "metrics.jsonl"
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
@@if ddp@@
    # Seed every RNG in use; ranks differ (dropout), the data order does not (it uses args.seed).
    random.seed(args.seed + rank)
    torch.manual_seed(args.seed + rank)
@@else@@
    random.seed(args.seed)  # every RNG in use; the data order has its own generators, seeded from args.seed too
    torch.manual_seed(args.seed)
@@end@@
    if args.deterministic:  # CPU runs already repeat bitwise; CUDA needs deterministic kernels (slower)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, i.e. later
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    if device.type == "cuda":  # TF32 matmuls and convolutions: a large speed-up on Ampere+, ample precision
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
@@if bf16@@
    if device.type == "cpu":
        warnings.warn("bf16 autocast on CPUs without native bf16 (AMX/AVX512-BF16) is ~10x slower than fp32")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        warnings.warn("this GPU only emulates bf16 (pre-Ampere), slower than fp16: regenerate with amp=fp16")
@@end@@

    # Data: each loader yields (inputs, targets); shapes are commented where the batch is used.
@@has_test@@     train_set, val_set, test_set = build_datasets(args)
@@!has_test@@     train_set, val_set = build_datasets(args)
    train_loader = build_loader(train_set, args, ${loader_device}train=True, multiple_of=args.grad_accum_steps)
    val_loader = build_loader(val_set, args, ${loader_device}train=False) if val_set is not None else None
@@ddp@@     micro_batches_per_epoch = len(train_loader)  # per rank, a multiple of grad_accum_steps
@@!ddp@@     micro_batches_per_epoch = len(train_loader)  # a multiple of grad_accum_steps
    steps_per_epoch = micro_batches_per_epoch // args.grad_accum_steps
    if steps_per_epoch == 0:
        raise SystemExit("too little data for one optimizer step: lower --batch-size or --grad-accum-steps")
    total_steps = args.epochs * steps_per_epoch if args.epochs else args.max_steps
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)

    # Model, optimizer, schedule. `model` stays the plain module (state_dict, EMA, evaluation);
@@ddp@@     # `train_model` is what the training step calls (compiled and/or DDP-wrapped).
@@!ddp@@     # `train_model` is what the training step calls (compiled with --compile).
    model = $model_ctor.to(device)
    optimizer = build_optimizer(model, args, device)
@@if lambda_schedule@@
    warmup_steps = max(1, int(WARMUP_RATIO * total_steps))
@@sched_constant@@     scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup_steps))
@@!sched_constant@@     scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup_steps))
@@end@@
@@if sched_onecycle@@
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=total_steps, pct_start=WARMUP_RATIO
    )
@@end@@
@@if scaler@@
    # fp16 gradients underflow without loss scaling; the scaler also skips steps with inf/nan grads.
    scaler = torch.amp.GradScaler(device.type)
@@end@@
    train_model = torch.compile(model) if args.compile else model
@@if ddp@@
    if ddp:
        train_model = DDP(train_model, device_ids=[local_rank] if device.type == "cuda" else None)
@@end@@
@@if ema@@
    # EMA of the weights (and BN buffers): what evaluation, best.pt and early stopping follow.
    ema_model = AveragedModel(model, multi_avg_fn=ema_update, use_buffers=True)
    eval_model = ema_model.module
@@else@@
    eval_model = model
@@end@@

    # Training state: everything needed to continue exactly where a checkpoint left off.
    step, epoch, batch_in_epoch = 0, 0, 0  # optimizer steps done, epoch, its micro-batches consumed
    best_val_loss = math.inf
@@early_stopping@@     evals_without_improvement = 0
    checkpoints = sorted(output_dir.glob("ckpt_step*.pt")) if args.resume else []
    if checkpoints:
        checkpoint = load_checkpoint(checkpoints[-1])
        model.load_state_dict(checkpoint["model"])
@@ck_optimizer@@         optimizer.load_state_dict(checkpoint["optimizer"])
@@ck_scheduler@@         scheduler.load_state_dict(checkpoint["scheduler"])
@@ck_scaler@@         scaler.load_state_dict(checkpoint["scaler"])
@@ema@@         ema_model.load_state_dict(checkpoint["ema"])
        step, epoch, batch_in_epoch = checkpoint["step"], checkpoint["epoch"], checkpoint["batch_in_epoch"]
        best_val_loss = checkpoint["best_val_loss"]
@@early_stopping@@         evals_without_improvement = checkpoint["evals_without_improvement"]
@@if ck_rng@@
@@if ddp@@
        if len(checkpoint["rng"]) == world_size:  # same number of ranks: each continues its own stream
            restore_rng_state(checkpoint["rng"][rank])
@@else@@
        restore_rng_state(checkpoint["rng"][0])
@@end@@
@@end@@
        print(f"resumed from {checkpoints[-1].name}: step {step}, epoch {epoch}, batch {batch_in_epoch}")
    else:
        if args.resume:
            print(f"no checkpoint in {output_dir}: starting from scratch")
@@~ddp@@         if is_main:
            metrics_path.unlink(missing_ok=True)  # a fresh run starts a fresh log; a resumed one appends

    def checkpoint_state() -> dict:
@@if ddp_rng@@
        rng_states = [capture_rng_state()]
        if world_size > 1:  # each rank has its own dropout stream
            rng_states = [None] * world_size
            dist.all_gather_object(rng_states, capture_rng_state())
@@end@@
        return {
            "model": model.state_dict(),
@@ck_optimizer@@             "optimizer": optimizer.state_dict(),
@@ck_scheduler@@             "scheduler": scheduler.state_dict(),
@@ck_scaler@@             "scaler": scaler.state_dict(),
@@ema@@             "ema": ema_model.state_dict(),
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "best_val_loss": best_val_loss,
@@early_stopping@@             "evals_without_improvement": evals_without_improvement,
@@ddp_rng@@             "rng": rng_states,
@@rng_single@@             "rng": [capture_rng_state()],
            "args": vars(args),
        }

    step_loss = torch.zeros((), device=device)  # mean micro-batch loss of the current step
    last_log_time = time.perf_counter()
    stopping = step >= total_steps
@@early_stopping@@     stopping = stopping or evals_without_improvement >= args.patience  # resumed after early stopping
    while not stopping:
        train_loader.batch_sampler.set_epoch(epoch, start_batch=batch_in_epoch)
        for inputs, targets in train_loader:
            inputs = inputs.to(device, non_blocking=True)  # $input_shape
            targets = targets.to(device, non_blocking=True)  # $target_shape
            batch_in_epoch += 1  # epochs hold whole optimizer steps, so this also counts micro-batches
@@if ddp_no_sync@@
            # Skip the gradient all-reduce on all but the last micro-batch of an accumulated step.
            sync = not ddp or batch_in_epoch % args.grad_accum_steps == 0
            with contextlib.nullcontext() if sync else train_model.no_sync():
@@if autocast@@
                with torch.autocast(device_type=device.type, dtype=AMP_DTYPE):
                    outputs = train_model(inputs)  # $output_shape
                    loss = compute_loss(outputs, targets) / args.grad_accum_steps
@@else@@
                outputs = train_model(inputs)  # $output_shape
                loss = compute_loss(outputs, targets) / args.grad_accum_steps
@@end@@
@@scaler@@                 scaler.scale(loss).backward()
@@!scaler@@                 loss.backward()
@@else@@
@@if autocast@@
            with torch.autocast(device_type=device.type, dtype=AMP_DTYPE):
                outputs = train_model(inputs)  # $output_shape
                loss = compute_loss(outputs, targets) / args.grad_accum_steps
@@else@@
            outputs = train_model(inputs)  # $output_shape
            loss = compute_loss(outputs, targets) / args.grad_accum_steps
@@end@@
@@scaler@@             scaler.scale(loss).backward()
@@!scaler@@             loss.backward()
@@end@@
            step_loss += loss.detach()
            if batch_in_epoch % args.grad_accum_steps:
                continue  # one optimizer step per grad_accum_steps micro-batches

@@if clip@@
@@scaler@@             scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
@@end@@
@@if scaler@@
            scaler.step(optimizer)
            scaler.update()
@@else@@
            optimizer.step()
@@end@@
            optimizer.zero_grad(set_to_none=True)
@@scheduler@@             scheduler.step()
@@ema@@             ema_model.update_parameters(model)
            step += 1
            epoch_done = batch_in_epoch == micro_batches_per_epoch
            if epoch_done:
                epoch, batch_in_epoch = epoch + 1, 0

            if step % args.log_interval == 0 or step == total_steps:
@@if ddp@@
                if world_size > 1:
                    dist.all_reduce(step_loss)
                    step_loss /= world_size
@@end@@
                now = time.perf_counter()
                record = {"type": "train", "step": step, "epoch": epoch, "loss": step_loss.item()}
                record["lr"] = optimizer.param_groups[0]["lr"]
@@clip@@                 record["grad_norm"] = grad_norm.item()
                record["ms_per_step"] = 1000 * (now - last_log_time) / args.log_interval
                last_log_time = now
@@~ddp@@                 if is_main:
                    log_metrics(metrics_path, record)
            step_loss.zero_()

            eval_due = step % args.eval_interval == 0 if args.eval_interval else epoch_done
            if val_loader is not None and (eval_due or step == total_steps):
                metrics = evaluate(eval_model, val_loader, device)
                train_model.train()  # evaluate() left the model in eval mode
@@~ddp@@                 if is_main:
                    log_metrics(metrics_path, {"type": "eval", "step": step, "epoch": epoch, **metrics})
                if metrics["val_loss"] < best_val_loss:
                    best_val_loss = metrics["val_loss"]
@@early_stopping@@                     evals_without_improvement = 0
@@if save_best@@
                    # best.pt: weights only (an export, not a resume point)
@@~ddp@@                     if is_main:
                        write_file({"model": eval_model.state_dict(), "step": step}, output_dir / "best.pt")
@@end@@
@@early_stopping@@                 else:
@@early_stopping@@                     evals_without_improvement += 1

            stopping = step >= total_steps or step == args.stop_at_step
@@early_stopping@@             stopping = stopping or evals_without_improvement >= args.patience  # early stopping
@@checkpoint_every@@             if step % args.checkpoint_interval == 0 or stopping:
@@!checkpoint_every@@             if epoch_done or stopping:
@@if ddp@@
                state = checkpoint_state()  # collective under DDP: every rank takes part
                if is_main:
                    save_checkpoint(state, output_dir, step)
@@else@@
                save_checkpoint(checkpoint_state(), output_dir, step)
@@end@@
            if stopping:
                break
@@if has_test@@

    if test_set is not None:  # the held-out split, evaluated once at the end
@@if save_best@@
@@if ddp@@
        if ddp:
            dist.barrier()  # rank 0 has finished writing best.pt
@@end@@
        if (output_dir / "best.pt").exists():  # test the weights that scored best on validation
            eval_model.load_state_dict(load_checkpoint(output_dir / "best.pt")["model"])
@@end@@
        metrics = evaluate(eval_model, build_loader(test_set, args, ${loader_device}train=False), device, split="test")
@@~ddp@@         if is_main:
            log_metrics(metrics_path, {"type": "test", "step": step, "epoch": epoch, **metrics})
@@end@@
@@if ddp@@
    if ddp:
        dist.destroy_process_group()
@@end@@
    return {"step": step, "best_val_loss": best_val_loss}


if __name__ == "__main__":
    main()
"""
