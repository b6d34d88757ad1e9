"""Minimal reproductions of what the reviewer got wrong on real public training code (bench/real_corpus.py).

Each case is our own few-line rewrite of an idiom read in a real repository (never the third-party code), named
after where it was seen. Two kinds:

- "miss": a real bug the reviewer did not report; the case asserts the finding at the expected line;
- "false-alarm": a finding that is wrong for this code; the case asserts that the rule stays silent.

A case whose rule is owned by a teammate and does not pass yet is marked `xfail(strict=False)` with the rule it
needs; once the rule handles it the case passes (XPASS) and the mark should be dropped. Cases for rules fixed in
this session are plain tests. Findings are checked with only the case's rule selected, so a case tests one rule.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import pytest

from skill.review import get_rule, review_paths, review_source


@dataclass(frozen=True)
class Repro:
    name: str
    rule: str
    kind: str  # "miss" | "false-alarm"
    seen_in: str  # repository and file where the idiom was read
    files: dict[str, str]  # relative path -> source (one file, or a small project reviewed as a tree)
    expected: tuple[tuple[str, int], ...] = ()  # (file, line) findings of `rule`; () for a false alarm
    pending: str | None = None  # xfail reason while the owning rule does not handle it
    marks: tuple = field(default=())


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


CASES: list[Repro] = [
    Repro(
        name="mode-flag-only-changes-grad-mode",
        rule="PT-MODE004",
        kind="miss",
        seen_in="pytorch/examples distributed/minGPT-ddp/mingpt/trainer.py",
        files={"trainer.py": _src('''
            import torch
            import torch.nn as nn


            class GPTLike(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Dropout(0.1), nn.Linear(64, 32))

                def forward(self, x, y):
                    out = self.body(x)
                    return out, nn.functional.mse_loss(out, y)


            class Trainer:
                def __init__(self, model, optimizer, train_loader, test_loader):
                    self.model = model
                    self.optimizer = optimizer
                    self.train_loader = train_loader
                    self.test_loader = test_loader

                def _run_batch(self, source, targets, train: bool = True) -> float:
                    with torch.set_grad_enabled(train):
                        _, loss = self.model(source, targets)
                    if train:
                        self.optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        self.optimizer.step()
                    return loss.item()

                def _run_epoch(self, loader, train: bool = True):
                    for source, targets in loader:
                        self._run_batch(source, targets, train)

                def train(self, epochs):
                    for epoch in range(epochs):
                        self._run_epoch(self.train_loader, train=True)
                        self._run_epoch(self.test_loader, train=False)
        ''')},
        # the evaluation call: Dropout stays active because nothing ever calls model.eval()
        expected=(("trainer.py", 38),),
    ),
    Repro(
        name="epoch-scheduler-stepped-in-batch-helper",
        rule="PT-OPT007",
        kind="miss",
        seen_in="engine.py-style trainers (facebookresearch/detr, facebookresearch/mae, timm) that pass the scheduler "
                "into train_one_epoch",
        files={"train.py": _src('''
            import torch
            import torch.nn.functional as F


            def train_one_epoch(model, loader, optimizer, scheduler, device):
                model.train()
                for x, y in loader:
                    loss = F.cross_entropy(model(x.to(device)), y.to(device))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    scheduler.step()


            def main(model, loader, epochs, device):
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
                scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
                for epoch in range(epochs):
                    train_one_epoch(model, loader, optimizer, scheduler, device)
        ''')},
        # T_max counts epochs but the helper steps it every batch: the cosine cycle ends after `epochs` batches
        expected=(("train.py", 12),),
    ),
    Repro(
        name="lr-annealed-in-else-branch",
        rule="PT-OPT008",
        kind="miss",
        seen_in="pytorch/examples word_language_model/main.py idiom (`else: lr /= 4.0`), which is only right there "
                "because the update is a manual `p.data.add_(p.grad, alpha=-lr)`; with an optimizer it is a no-op",
        files={"lm.py": _src('''
            import torch
            import torch.nn as nn


            def train(model, batches, optimizer, criterion):
                model.train()
                for x, y in batches:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()


            def main(model, train_batches, evaluate, lr=20.0, epochs=40):
                criterion = nn.CrossEntropyLoss()
                optimizer = torch.optim.SGD(model.parameters(), lr=lr)
                best_val = None
                for epoch in range(epochs):
                    train(model, train_batches, optimizer, criterion)
                    val_loss = evaluate(model)
                    if best_val is None or val_loss < best_val:
                        best_val = val_loss
                        torch.save(model.state_dict(), "model.pt")
                    else:
                        lr /= 4.0
        ''')},
        expected=(("lm.py", 25),),
    ),
    Repro(
        name="softmax-model-in-other-module",
        rule="PT-LOSS001",
        kind="miss",
        seen_in="the models.py + train.py layout of most research repositories (a model class imported by the trainer)",
        files={
            "pkg/__init__.py": "",
            "pkg/models.py": _src('''
                import torch.nn as nn
                import torch.nn.functional as F


                class Classifier(nn.Module):
                    def __init__(self, d_in, n_classes):
                        super().__init__()
                        self.fc1 = nn.Linear(d_in, 256)
                        self.fc2 = nn.Linear(256, n_classes)

                    def forward(self, x):
                        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)
            '''),
            "pkg/trainer.py": _src('''
                import torch
                import torch.nn as nn

                from .models import Classifier


                def train(loader, d_in, n_classes, epochs=10):
                    model = Classifier(d_in, n_classes)
                    criterion = nn.CrossEntropyLoss()
                    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
                    for _ in range(epochs):
                        for x, y in loader:
                            optimizer.zero_grad()
                            loss = criterion(model(x), y)
                            loss.backward()
                            optimizer.step()
                    return model
            '''),
        },
        # same file: reported at the softmax; across files of one reviewed tree it is not (yet)
        expected=(("pkg/models.py", 12),),
    ),
    Repro(
        name="step-in-alternative-optimize-methods",
        rule="PT-OPT004",
        kind="false-alarm",
        seen_in="openai/improved-diffusion improved_diffusion/train_util.py",
        files={"train_util.py": _src('''
            import torch


            class TrainLoop:
                def __init__(self, model, data, lr, use_fp16=False):
                    self.model = model
                    self.data = data
                    self.use_fp16 = use_fp16
                    self.lg_loss_scale = 20.0
                    self.opt = torch.optim.AdamW(model.parameters(), lr=lr)

                def run_step(self, batch):
                    self.opt.zero_grad()
                    loss = self.model(batch).mean()
                    (loss * 2 ** self.lg_loss_scale if self.use_fp16 else loss).backward()
                    if self.use_fp16:
                        self.optimize_fp16()
                    else:
                        self.optimize_normal()

                def optimize_fp16(self):
                    if any(not torch.isfinite(p.grad).all() for p in self.model.parameters()):
                        self.lg_loss_scale -= 1
                        return
                    for p in self.model.parameters():
                        p.grad.mul_(1.0 / 2 ** self.lg_loss_scale)
                    self.opt.step()
                    self.lg_loss_scale += 0.001

                def optimize_normal(self):
                    self.opt.step()

                def run(self):
                    for batch in self.data:
                        self.run_step(batch)
        ''')},
    ),
    Repro(
        name="strict-false-after-intersecting-keys",
        rule="PT-IO008",
        kind="false-alarm",
        seen_in="ultralytics/yolov5 train.py, segment/train.py",
        files={"train.py": _src('''
            import logging

            import torch

            LOGGER = logging.getLogger(__name__)


            def intersect_dicts(da, db, exclude=()):
                return {k: v for k, v in da.items() if k in db and all(x not in k for x in exclude) and v.shape == db[k].shape}


            def load_pretrained(model, weights, exclude=("anchor",)):
                ckpt = torch.load(weights, map_location="cpu", weights_only=True)
                csd = intersect_dicts(ckpt["model"], model.state_dict(), exclude=exclude)
                model.load_state_dict(csd, strict=False)
                LOGGER.info(f"Transferred {len(csd)}/{len(model.state_dict())} items from {weights}")
                return model
        ''')},
    ),
    Repro(
        name="batch-encoding-to-is-in-place",
        rule="PT-DEV005",
        kind="false-alarm",
        seen_in="huggingface/accelerate examples/nlp_example.py (and 14 by_feature examples)",
        files={"nlp_example.py": _src('''
            import torch
            from torch.utils.data import DataLoader
            from transformers import AutoModelForSequenceClassification, AutoTokenizer


            def main(raw_train, device, lr=2e-5):
                tokenizer = AutoTokenizer.from_pretrained("bert-base-cased")

                def collate_fn(examples):
                    return tokenizer.pad(examples, padding="longest", return_tensors="pt")

                loader = DataLoader(raw_train, batch_size=16, shuffle=True, collate_fn=collate_fn)
                model = AutoModelForSequenceClassification.from_pretrained("bert-base-cased").to(device)
                optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
                model.train()
                for batch in loader:
                    batch.to(device)  # BatchEncoding.to() moves its tensors in place and returns self
                    loss = model(**batch).loss
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad()
        ''')},
    ),
    Repro(
        name="resume-epoch-saved-as-next-epoch",
        rule="PT-IO006",
        kind="false-alarm",
        seen_in="facebookresearch/dino eval_linear.py",
        files={
            "utils.py": _src('''
                import os

                import torch


                def restart_from_checkpoint(path, run_variables=None, **modules):
                    if not os.path.isfile(path):
                        return
                    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
                    for key, value in modules.items():
                        value.load_state_dict(checkpoint[key])
                    if run_variables is not None:
                        for var_name in run_variables:
                            if var_name in checkpoint:
                                run_variables[var_name] = checkpoint[var_name]
            '''),
            "eval_linear.py": _src('''
                import json
                import os

                import torch

                import utils


                def train_linear(model, linear, loader, optimizer, scheduler, epochs, out_dir):
                    to_restore = {"epoch": 0, "best_acc": 0.0}
                    utils.restart_from_checkpoint(
                        os.path.join(out_dir, "checkpoint.pth.tar"),
                        run_variables=to_restore,
                        state_dict=linear,
                        optimizer=optimizer,
                        scheduler=scheduler,
                    )
                    start_epoch = to_restore["epoch"]
                    for epoch in range(start_epoch, epochs):
                        for x, y in loader:
                            with torch.no_grad():
                                feats = model(x)
                            loss = torch.nn.functional.cross_entropy(linear(feats), y)
                            optimizer.zero_grad()
                            loss.backward()
                            optimizer.step()
                        scheduler.step()
                        log_stats = {"train_loss": loss.item(), "epoch": epoch}
                        with open(os.path.join(out_dir, "log.txt"), "a") as f:
                            f.write(json.dumps(log_stats) + "\\n")
                        save_dict = {
                            "epoch": epoch + 1,
                            "state_dict": linear.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(),
                        }
                        torch.save(save_dict, os.path.join(out_dir, "checkpoint.pth.tar"))
            '''),
        },
        pending="PT-IO006 false alarm: the checkpoint stores `epoch + 1`; the `epoch: epoch` dict is a JSON log line, not the checkpoint",
    ),
    Repro(
        name="resume-epoch-saved-as-next-epoch-dict-call",
        rule="PT-IO006",
        kind="false-alarm",
        seen_in="facebookresearch/barlowtwins main.py, evaluate.py",
        files={"main.py": _src('''
            import json
            from pathlib import Path

            import torch


            def main(model, optimizer, loader, epochs, checkpoint_dir: Path):
                if (checkpoint_dir / "checkpoint.pth").is_file():
                    ckpt = torch.load(checkpoint_dir / "checkpoint.pth", map_location="cpu", weights_only=True)
                    start_epoch = ckpt["epoch"]
                    model.load_state_dict(ckpt["model"])
                    optimizer.load_state_dict(ckpt["optimizer"])
                else:
                    start_epoch = 0
                for epoch in range(start_epoch, epochs):
                    for step, (y1, y2) in enumerate(loader, start=epoch * len(loader)):
                        optimizer.zero_grad()
                        loss = model(y1, y2)
                        loss.backward()
                        optimizer.step()
                        if step % 100 == 0:
                            stats = dict(epoch=epoch, step=step, loss=loss.item())
                            print(json.dumps(stats))
                    state = dict(epoch=epoch + 1, model=model.state_dict(), optimizer=optimizer.state_dict())
                    torch.save(state, checkpoint_dir / "checkpoint.pth")
        ''')},
        pending="PT-IO006 false alarm: `dict(epoch=epoch + 1, ...)` is saved; `dict(epoch=epoch, ...)` is a stats line",
    ),
    Repro(
        name="lightning-example-input-array",
        rule="PT-MOD004",
        kind="false-alarm",
        seen_in="Lightning-AI/pytorch-lightning examples/pytorch/domain_templates/generative_adversarial_net.py",
        files={"gan.py": _src('''
            import torch
            import torch.nn as nn
            from lightning.pytorch import LightningModule


            class GAN(LightningModule):
                def __init__(self, latent_dim: int = 100):
                    super().__init__()
                    self.generator = nn.Sequential(nn.Linear(latent_dim, 784), nn.Tanh())
                    self.example_input_array = torch.zeros(2, latent_dim)

                def forward(self, z):
                    return self.generator(z)
        ''')},
    ),
]


def _params():
    out = []
    for case in CASES:
        marks = list(case.marks)
        if case.pending:
            marks.append(pytest.mark.xfail(strict=False, reason=case.pending))
        out.append(pytest.param(case, id=f"{case.kind}:{case.rule}:{case.name}", marks=marks))
    return out


def _findings(case: Repro, tmp_path) -> list[tuple[str, int]]:
    if get_rule(case.rule) is None:
        pytest.fail(f"{case.rule} does not exist")
    if len(case.files) == 1:
        (name, text), = case.files.items()
        return [(name, f.line) for f in review_source(text, name, select=[case.rule])]
    for rel, text in case.files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    report = review_paths([str(tmp_path)], select=[case.rule], jobs=1)
    assert not report.errors, report.errors
    return [(str(__import__("pathlib").Path(f.file).relative_to(tmp_path)), f.line) for f in report.findings]


@pytest.mark.parametrize("case", _params())
def test_real_code_repro(case: Repro, tmp_path) -> None:
    got = sorted(_findings(case, tmp_path))
    if case.kind == "false-alarm":
        assert got == [], f"{case.rule} still reports {got} on the {case.seen_in} idiom"
    else:
        assert got == sorted(case.expected), f"{case.rule}: expected {sorted(case.expected)}, got {got}"


def test_cases_are_well_formed() -> None:
    """Every source parses (an xfail must never hide a broken repro) and expected lines exist."""
    import ast

    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    for c in CASES:
        for rel, text in c.files.items():
            ast.parse(text, filename=rel)
        for rel, line in c.expected:
            assert 0 < line <= len(c.files[rel].splitlines()), (c.name, rel, line)
    for c in CASES:
        assert c.kind in {"miss", "false-alarm"}
        assert (c.kind == "miss") == bool(c.expected), c.name
        assert all(f in c.files for f, _ in c.expected), c.name
