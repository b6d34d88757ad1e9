"""PyTorch knowledge kept as data: the names, regexes and tables the analysis and the rules match on.

No logic here: grad-disabling context managers, evaluation/data naming conventions, module and
detaching methods, optimizer names, I/O datasets, torch.load/save qualnames. Extend a table, not a rule.
"""

from __future__ import annotations

import builtins
import re


NO_GRAD_CALLS = {"no_grad", "inference_mode"}


EVAL_FUNC_RE = re.compile(r"(^|_)(eval|evaluate|evaluation|valid|validate|validation|val|test|predict|inference|infer)(_|$)", re.I)


EVAL_DATA_RE = re.compile(r"(val|valid|validation|test|eval|dev|holdout)", re.I)


# Framework hooks in which the framework sets train/eval mode and grad mode itself.
FRAMEWORK_EVAL_HOOKS = {"validation_step", "test_step", "predict_step", "on_validation_epoch_end", "validation_epoch_end"}


# ---------------------------------------------------------------- device placement, loaders, checkpoints
# (used by the DEV/DATA/IO rules)
CUDA_STRING_RE = re.compile(r"^cuda(:\d+)?$")


DEVICE_GUARD_NAME_RE = re.compile(r"(cuda|gpu|cpu|mps|device|accelerat)", re.I)


EXIT_CALLS = {"exit", "_exit", "quit", "skip", "skipTest", "fail"}


CUDA_RUNTIME_CALLS = (
    "synchronize", "max_memory_allocated", "memory_allocated", "reset_peak_memory_stats", "Stream",
    "current_stream", "get_device_name", "get_device_properties", "CUDAGraph", "graph",
)


MODEL_EVIDENCE_METHODS = {"parameters", "named_parameters", "train", "eval", "modules", "named_modules", "children", "named_children"}


MODEL_VAR_RE = re.compile(r"^(model|net|network|classifier|encoder|decoder|generator|discriminator|backbone|module)$|(_model|_net|model_)$", re.I)


# Shared by the MODE/GRAD/MEM rules. Everything is cached on the Context (one computation per file).

MODEL_NAME_RE = re.compile(
    r"^(model|models|net|network|module|classifier|clf|encoder|decoder|backbone|generator|discriminator|"
    r"netg|netd|g|d|policy|actor|critic|teacher|student|autoencoder|vae|detector|segmenter|transformer|"
    r"lm|bert|gpt|cnn|rnn|lstm|gru|mlp|predictor|regressor|qnet|dqn)$"
    r"|(model|net|network)\d*$|^(model|net)_",
    re.I,
)


LOSS_NAME_RE = re.compile(r"(loss|criterion|crit$|cross_entropy|kl_div|nll)", re.I)


# Receivers of these methods are modules (used to recognise `model(x)` calls by data flow, not only by name).
MODULE_METHODS = {
    "parameters", "named_parameters", "eval", "train", "state_dict", "load_state_dict", "modules",
    "named_modules", "children", "zero_grad", "apply", "requires_grad_", "register_forward_hook",
}


# Calls whose result is a plain number / integer tensor / a detached tensor: no autograd graph behind it.
DETACHING_METHODS = {
    "item", "tolist", "numpy", "detach", "argmax", "argmin", "argsort", "long", "int", "bool", "byte",
    "eq", "ne", "gt", "lt", "ge", "le", "nonzero", "size", "dim", "numel", "isnan", "isinf", "isfinite",
}


# Methods/functions that return a tensor still attached to the graph of their (tensor) input.
KEEP_METHODS = {
    "sum", "mean", "cpu", "cuda", "to", "squeeze", "unsqueeze", "view", "reshape", "flatten", "float",
    "double", "half", "bfloat16", "clone", "contiguous", "t", "transpose", "permute", "softmax",
    "log_softmax", "sigmoid", "exp", "log", "abs", "pow", "mul", "add", "div", "sub", "norm",
    "masked_fill", "expand", "sqrt", "tanh", "relu", "neg", "squeeze_", "flip", "chunk", "split",
}


KEEP_FUNCS = {
    "stack", "cat", "sum", "mean", "softmax", "log_softmax", "sigmoid", "exp", "log", "tanh", "relu",
    "abs", "sqrt", "neg", "squeeze", "flatten", "add", "mul", "div", "sub", "matmul", "pow",
}


MODEL_FACTORY_RE = re.compile(r"(from_pretrained|create_model|build_model|get_model|load_model)$")


FRAMEWORK_BASE_RE = re.compile(r"(Lightning|Trainer|LightningModule)")


# Evaluation routines named by what they measure (`compute_accuracy(model, loader)`).
EVAL_EXTRA_FUNC_RE = re.compile(r"(accuracy|(^|_)metrics?(_|$)|(^|_)score_model|(^|_)benchmark_model)", re.I)


TEST_CLASS_RE = re.compile(r"(^Test|Tests?$|TestCase|TestBase|TestMixin|TestFixture)")


TEST_FILE_RE = re.compile(r"(^|[\\/])(test_[^\\/]*|[^\\/]*_test|conftest)\.py$")


_BUILTIN_NAMES = set(dir(builtins))


# ---------------------------------------------------------------------- evaluation code (MODE001, GRAD001)
EVAL_DATA_TOKEN_RE = re.compile(
    r"(^|[^a-z])(val|valid|validation|test|testing|eval|evaluation|dev|holdout|heldout)(s|set|loader|data|dl|ds|dataset|iter)?([^a-z]|$)"
    r"|(val|valid|test|eval|dev)(loader|set|data|dl|ds|dataset)",
    re.I,
)


DATAISH_RE = re.compile(r"(loader|dataloader|(^|_)dl($|_)|data|(^|_)ds($|_)|batch|sample|image|img|example|input|val|test|eval|dev)", re.I)


MC_DROPOUT_RE = re.compile(r"(mc[_ ]?dropout|monte[_ ]?carlo|enable_dropout|mcdropout|bayesian)", re.I)


NEEDS_GRAD_ATTRS = {"grad", "retain_grad"}


OPTIMIZER_NAME_RE = re.compile(r"(^|[._])(opt|optim|optimizer|optimiser|optimizers|opt_[a-z0-9_]*|optimizer_[a-z0-9_]*|[a-z0-9_]*_opt|[a-z0-9_]*optimizer[a-z0-9_]*|[a-z0-9_]*optim)$", re.I)


LOADER_RE = re.compile(r"(loader|dataset|(^|_)dl($|_)|(^|_)ds($|_))", re.I)


OTHER_FRAMEWORK_RE = re.compile(r"^(tensorflow|keras|jax|flax|sklearn|paddle|mxnet|mindspore|oneflow)(\.|$)")


TORCH_ECOSYSTEM_RE = re.compile(
    r"^(torch|torchvision|torchaudio|torchtext|lightning|pytorch_lightning|transformers|timm|accelerate|"
    r"diffusers|peft|deepspeed|fairseq|detectron2|mmcv|mmengine|ignite|skorch|torch_geometric|dgl|monai)(\.|$)"
)


# Dataset classes that read, decode or transform each item (torchvision and friends).
IO_DATASETS = {
    "ImageFolder", "DatasetFolder", "MNIST", "FashionMNIST", "KMNIST", "EMNIST", "QMNIST", "CIFAR10", "CIFAR100",
    "SVHN", "STL10", "ImageNet", "CocoDetection", "CocoCaptions", "VOCSegmentation", "VOCDetection", "CelebA",
    "Places365", "LSUN", "Cityscapes", "Flowers102", "Food101", "OxfordIIITPet", "StanfordCars", "Caltech101",
    "Caltech256", "SBDataset", "Kinetics", "UCF101", "HMDB51", "LIBRISPEECH", "SPEECHCOMMANDS", "YESNO",
    "LJSPEECH", "VisionDataset", "WIDERFace", "INaturalist", "DTD", "EuroSAT", "GTSRB", "FGVCAircraft",
}


IO_CALL_NAMES = {
    "open", "imread", "read_image", "decode_image", "decode_jpeg", "read_file", "load", "read_csv", "imdecode",
    "loadmat", "read", "read_video", "transform", "transforms", "augment", "tokenize", "encode", "convert",
}


IO_CALL_RE = re.compile(r"(transform|augment|^tfms?$|^aug$|preprocess|^load_|^read_|decode)", re.I)


TORCH_LOAD = frozenset({"torch.load", "torch.serialization.load"})


TORCH_SAVE = frozenset({"torch.save", "torch.serialization.save"})
