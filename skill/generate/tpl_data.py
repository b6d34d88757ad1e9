"""Template of the data section (shared by the dataset generator and the train-loop generator).

Flags: in_memory_real (the real source is loaded into memory), src_<source>, task_<task>, variable_length,
bucketing, standardize, hflip, ddp, batch_norm, has_val, has_test, lm, seqcls, image_input, tabular_input,
seg.
"""

DATA_TEMPLATE = '''
# ----------------------------------------------------------------------------- data
@@if tokens@@
PAD_ID = 0  # token id 0 is padding; byte b is token b + 1


@@end@@
class InMemoryDataset(Dataset):
    """Tensors already in memory. A batch is one indexing op, not a Python loop over items."""

    in_memory = True  # no per-item I/O: load in the main process, no workers

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor):
        self.inputs, self.targets = inputs, targets  # (N, ...) each

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int):
        return self.inputs[index], self.targets[index]

    def __getitems__(self, indices: list[int]):
        # The DataLoader hands over the whole index batch: one gather instead of B __getitem__ calls and a collate.
        index = torch.tensor(indices)
        return self.inputs[index], self.targets[index]

    def subset(self, indices: torch.Tensor) -> InMemoryDataset:
        return InMemoryDataset(self.inputs[indices], self.targets[indices])


def collate_prebatched(batch):
    return batch  # InMemoryDataset.__getitems__ already returned (inputs, targets) for the whole batch


@@if variable_length@@
class SequenceDataset(Dataset):
    """Token sequences of different lengths, one label each."""

    in_memory = True

    def __init__(self, sequences: list[torch.Tensor], labels: torch.Tensor):
        self.sequences = sequences
        self.labels = labels
        self.lengths = [len(sequence) for sequence in sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int):
        return self.sequences[index], self.labels[index]

    def subset(self, indices: torch.Tensor) -> SequenceDataset:
        return SequenceDataset([self.sequences[i] for i in indices.tolist()], self.labels[indices])


def pad_collate(batch):
    """Pad [(tokens (T_i,), label ())] to tokens (B, T_max) filled with PAD_ID, labels (B,)."""
    sequences, labels = zip(*batch)
    tokens = nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=PAD_ID)
    return tokens, torch.stack(labels)  # (B, T_max), (B,)


@@end@@
@@if src_file_list@@
class FileListDataset(Dataset):
    """Samples stored one per file (tensors saved with torch.save), listed in a CSV index."""

    def __init__(self, rows: list[tuple[str, str]], root: Path, augment: bool):
        self.rows = rows
        self.root = root
        self.augment = augment

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        input_name, target = self.rows[index]
        inputs = torch.load(self.root / input_name, map_location="cpu", weights_only=True)
@@if seg@@
        # inputs: (C, H, W) float image, target: (H, W) class-id mask file
        mask = torch.load(self.root / target, map_location="cpu", weights_only=True).long()
@@if hflip@@
        if self.augment and torch.rand(()) < 0.5:
            inputs, mask = inputs.flip(-1), mask.flip(-1)  # flip image and mask together
@@end@@
        return inputs.float(), mask
@@else@@
@@if hflip@@
        if self.augment and torch.rand(()) < 0.5:
            inputs = inputs.flip(-1)
@@end@@
@@task_classification@@         return inputs.float(), torch.tensor(int(target))
@@task_regression@@         return inputs.float(), torch.tensor([float(v) for v in target.split(";")])
@@end@@


@@end@@
class EpochBatchSampler(Sampler[list[int]]):
    """Index batches in an order fixed by (seed, epoch). Resuming skips the batches already consumed instead
    of replaying them, so a resumed run trains on exactly the batches an uninterrupted run would."""

    def __init__(self, size: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int, multiple_of: int = 1):
        self.size, self.batch_size, self.shuffle, self.drop_last = size, batch_size, shuffle, drop_last
        self.seed, self.multiple_of = seed, multiple_of  # multiple_of: whole optimizer steps per epoch
        self.epoch, self.start_batch = 0, 0
@@bucketing@@         self.lengths: list[int] | None = None  # per-sample lengths for bucketing (build_loader sets them)
@@if ddp@@
        # Under DDP each rank takes every world_size-th index. Training shards are cut to equal size, or the
        # ranks would run different numbers of steps and hang in the gradient all-reduce.
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.shard_size = size // self.world_size if shuffle else len(range(self.rank, size, self.world_size))
@@end@@

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
@@ddp@@         size = self.shard_size
@@ddp@@         batches = size // self.batch_size if self.drop_last else math.ceil(size / self.batch_size)
@@!ddp@@         batches = self.size // self.batch_size if self.drop_last else math.ceil(self.size / self.batch_size)
        return batches - batches % self.multiple_of

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist() if self.shuffle else list(range(self.size))
@@ddp@@         order = order[self.rank :: self.world_size][: self.shard_size]  # this rank's shard
@@if bucketing@@
        if self.lengths is not None:
            # Sort within windows of 50 batches so each batch holds similar lengths (less padding).
            window = 50 * self.batch_size
            order = [
                index
                for start in range(0, len(order), window)
                for index in sorted(order[start : start + window], key=self.lengths.__getitem__)
            ]
@@end@@
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)][: len(self)]
@@if bucketing@@
        if self.lengths is not None and self.shuffle:
            # Shuffle batch order so lengths do not trend through the epoch.
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
@@end@@
        yield from batches[self.start_batch :]


def split_indices(num_samples: int, fractions: list[float], seed: int) -> list[torch.Tensor]:
    """Seeded random split into [train, *fractions] index tensors."""
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
    sizes = [int(num_samples * fraction) for fraction in fractions]
    return list(order.split([num_samples - sum(sizes), *sizes]))


def make_synthetic_data(num_samples: int, seed: int):
    """Random data of the real shapes with a learnable signal, so any run can be smoke-tested."""
    generator = torch.Generator().manual_seed(seed)
@@if tabular_input@@
    inputs = torch.randn(num_samples, INPUT_DIM, generator=generator)  # (N, D)
@@if task_classification@@
    targets = torch.randint(0, NUM_CLASSES, (num_samples,), generator=generator)  # (N,)
    prototypes = torch.randn(NUM_CLASSES, INPUT_DIM, generator=generator)  # (C, D)
    inputs += prototypes[targets]  # each class is a shifted Gaussian
@@else@@
    weight = torch.randn(INPUT_DIM, NUM_TARGETS, generator=generator) / math.sqrt(INPUT_DIM)
    noise = 0.1 * torch.randn(num_samples, NUM_TARGETS, generator=generator)
    targets = inputs @ weight + noise  # (N, T)
@@end@@
    return InMemoryDataset(inputs, targets)
@@end@@
@@if image_input@@
    shape = (num_samples, IN_CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    inputs = torch.randn(shape, generator=generator)  # (N, C, H, W)
    targets = torch.randint(0, NUM_CLASSES, (num_samples,), generator=generator)  # (N,)
    prototypes = torch.randn((NUM_CLASSES, *shape[1:]), generator=generator)  # (K, C, H, W)
    inputs += prototypes[targets]
    return InMemoryDataset(inputs, targets)
@@end@@
@@if seg@@
    shape = (num_samples, IN_CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    inputs = torch.randn(shape, generator=generator)  # (N, C, H, W)
    # The mask is the first channel's value bucketed into NUM_CLASSES bands: (N, H, W).
    boundaries = torch.linspace(-1.0, 1.0, NUM_CLASSES - 1)
    targets = torch.bucketize(inputs[:, 0], boundaries)
    return InMemoryDataset(inputs, targets)
@@end@@
@@if lm@@
    # Each block counts up with a random start and stride, so the next token is predictable.
    starts = torch.randint(0, VOCAB_SIZE - 1, (num_samples, 1), generator=generator)
    strides = torch.randint(1, 4, (num_samples, 1), generator=generator)
    blocks = (starts + strides * torch.arange(SEQ_LEN + 1)) % (VOCAB_SIZE - 1) + 1  # (N, T+1)
    return InMemoryDataset(blocks[:, :-1], blocks[:, 1:])  # inputs, next tokens: (N, T) each
@@end@@
@@if seqcls@@
    labels = torch.randint(0, NUM_CLASSES, (num_samples,), generator=generator)  # (N,)
@@if variable_length@@
    lengths = torch.randint(SEQ_LEN // 4, SEQ_LEN + 1, (num_samples,), generator=generator)
@@else@@
    lengths = torch.full((num_samples,), SEQ_LEN)
@@end@@
    sequences = []
    for label, length in zip(labels.tolist(), lengths.tolist()):
        # Filler tokens above NUM_CLASSES; a fifth of positions carry the class keyword token.
        tokens = torch.randint(NUM_CLASSES + 1, VOCAB_SIZE, (length,), generator=generator)
        keyword = torch.rand(length, generator=generator) < 0.2
        tokens[keyword] = label + 1
        sequences.append(tokens)
@@if variable_length@@
    return SequenceDataset(sequences, labels)
@@else@@
    return InMemoryDataset(torch.stack(sequences), labels)  # (N, T), (N,)
@@end@@
@@end@@


@@if src_csv@@
def load_csv(path: Path) -> InMemoryDataset:
    """A headered CSV: feature columns first, target column(s) last; loaded into memory once."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    values = torch.tensor([[float(v) for v in row] for row in rows])  # (N, columns)
@@task_classification@@     if values.shape[1] != INPUT_DIM + 1:
@@task_regression@@     if values.shape[1] != INPUT_DIM + NUM_TARGETS:
        raise ValueError(f"{path}: expected {INPUT_DIM} features + targets, got {values.shape[1]} columns")
@@task_classification@@     return InMemoryDataset(values[:, :INPUT_DIM], values[:, INPUT_DIM].long())
@@task_regression@@     return InMemoryDataset(values[:, :INPUT_DIM], values[:, INPUT_DIM:])


@@end@@
@@if src_tensors@@
def load_tensors(path: Path) -> InMemoryDataset:
    """A file saved with torch.save({"inputs": ..., "targets": ...})."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    return InMemoryDataset(data["inputs"], data["targets"])


@@end@@
@@if src_token_sequences@@
@@if lm@@
def load_token_sequences(path: Path) -> InMemoryDataset:
    """A text file, byte-level tokens, cut into non-overlapping blocks of SEQ_LEN + 1."""
    tokens = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8).long() + 1  # (L,)
    num_blocks = (len(tokens) - 1) // SEQ_LEN
    if num_blocks < 2:
        raise ValueError(f"{path}: need at least {2 * SEQ_LEN + 1} bytes, got {len(tokens)}")
    starts = torch.arange(num_blocks) * SEQ_LEN
    blocks = tokens[starts[:, None] + torch.arange(SEQ_LEN + 1)]  # (N, T+1)
    return InMemoryDataset(blocks[:, :-1], blocks[:, 1:])  # (N, T) inputs, (N, T) next tokens


@@else@@
def load_token_sequences(path: Path):
    """Lines of "label<TAB>text"; byte-level tokens, truncated to SEQ_LEN."""
    sequences, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        label, text = line.split("\\t", 1)
        encoded = bytearray(text.encode("utf-8")[:SEQ_LEN]) or bytearray(b" ")
        sequences.append(torch.frombuffer(encoded, dtype=torch.uint8).long() + 1)
        labels.append(int(label))
@@if variable_length@@
    return SequenceDataset(sequences, torch.tensor(labels))
@@else@@
    padded = torch.full((len(sequences), SEQ_LEN), PAD_ID)  # (N, T): fixed length, right-padded
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
    return InMemoryDataset(padded, torch.tensor(labels))
@@end@@


@@end@@
@@end@@
@@if src_file_list@@
def read_file_list(path: Path) -> list[tuple[str, str]]:
    """Index CSV with a header and two columns: input file, target (label or mask file)."""
    with open(path, newline="") as handle:
        return [(row[0], row[1]) for row in list(csv.reader(handle))[1:]]


@@end@@
def build_datasets(args) -> list[Dataset | None]:
@@has_test@@     """[train, validation, test] datasets, real or synthetic (same shapes either way); empty splits are None."""
@@!has_test@@     """[train, validation] datasets, real or synthetic (same shapes either way); an empty split is None."""
@@has_test@@     fractions = [args.val_fraction, args.test_fraction]
@@!has_test@@     fractions = [args.val_fraction]
    if args.synthetic_data:
        full = make_synthetic_data(args.synthetic_size, args.seed)
@@!in_memory_real@@         datasets = [full.subset(idx) for idx in split_indices(len(full), fractions, args.seed)]
@@if in_memory_real@@
    else:
@@src_csv@@         full = load_csv(Path(args.data_path))
@@src_tensors@@         full = load_tensors(Path(args.data_path))
@@src_token_sequences@@         full = load_token_sequences(Path(args.data_path))
    datasets = [full.subset(idx) for idx in split_indices(len(full), fractions, args.seed)]
@@end@@
@@if src_file_list@@
    else:
        rows = read_file_list(Path(args.data_path))
        splits = split_indices(len(rows), fractions, args.seed)
        root = Path(args.data_path).parent
        datasets = [
            FileListDataset([rows[j] for j in idx.tolist()], root, augment=i == 0) for i, idx in enumerate(splits)
        ]
@@end@@
@@if src_image_folder@@
    else:
        # torchvision is needed only for real image folders (root/class_name/image.jpg). ImageFolder decodes
        # each file with PIL and converts it to RGB: grayscale, palette and RGBA files of any size all work.
        from torchvision import datasets as tv_datasets
        from torchvision.transforms import v2

        to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]  # PIL (H, W, 3) -> (3, H, W) in [0, 1]
@@gray@@         to_tensor.insert(0, v2.Grayscale())  # IN_CHANNELS = 1
@@normalize@@         to_tensor.append(v2.Normalize(mean=$norm_mean, std=$norm_std))
        # Every image leaves its transform IMAGE_SIZE x IMAGE_SIZE, so mixed-size files batch together.
        train_transform = v2.Compose(
            [
@@random_resized_crop@@                 v2.RandomResizedCrop(IMAGE_SIZE),
@@!random_resized_crop@@                 v2.Resize((IMAGE_SIZE, IMAGE_SIZE)),
@@hflip@@                 v2.RandomHorizontalFlip(),
                *to_tensor,
            ]
        )
        eval_transform = v2.Compose([v2.Resize((IMAGE_SIZE, IMAGE_SIZE)), *to_tensor])
        train_full = tv_datasets.ImageFolder(args.data_path, transform=train_transform)
        eval_full = tv_datasets.ImageFolder(args.data_path, transform=eval_transform)
        splits = split_indices(len(train_full), fractions, args.seed)
        datasets = [Subset(train_full if i == 0 else eval_full, idx.tolist()) for i, idx in enumerate(splits)]
@@end@@
@@if standardize@@
    # Standardise features with training-split statistics only (no leakage from val/test).
    mean = datasets[0].inputs.mean(0, keepdim=True)  # (1, D)
    std = datasets[0].inputs.std(0, keepdim=True).clamp(min=1e-6)
    for dataset in datasets:
        dataset.inputs = (dataset.inputs - mean) / std
@@end@@
    return [dataset if len(dataset) > 0 else None for dataset in datasets]


def build_loader(dataset: Dataset, args, ${loader_device_param}train: bool, multiple_of: int = 1) -> DataLoader:
    num_workers = args.num_workers
    if num_workers is None:  # workers pay off for per-item I/O and decoding; in-memory data is fastest in-process
        num_workers = 0 if getattr(dataset, "in_memory", False) else min(8, os.cpu_count() or 1)
    batch_sampler = EpochBatchSampler(len(dataset), args.batch_size, train, train and DROP_LAST, args.seed, multiple_of)
@@bucketing@@     batch_sampler.lengths = getattr(dataset, "lengths", None)
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
@@variable_length@@         collate_fn=collate_prebatched if isinstance(dataset, InMemoryDataset) else pad_collate,
@@!variable_length@@         collate_fn=collate_prebatched if isinstance(dataset, InMemoryDataset) else None,
        num_workers=num_workers,
        pin_memory=$pin_memory_expr,
        persistent_workers=$persistent_expr,
@@prefetch@@         prefetch_factor=$prefetch_factor if num_workers > 0 else None,
        # A private generator: creating an iterator must not consume the global RNG (exact resume).
        generator=torch.Generator().manual_seed(args.seed),
    )
'''
