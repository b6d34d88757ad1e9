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

from pytorch_patterns.skill.review import get_rule, review_paths, review_source


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
        # reported at the softmax (the catalogue's anchor), in the model's file, when the tree is reviewed as one project
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
    # ---------------------------------------------------------------- fresh batch 3 (read at 13:05 UTC)
    Repro(
        name="generator-loss-reuses-critic-scores-after-its-step",
        rule="PT-GRAD009",
        kind="miss",
        seen_in="eriklindernoren/PyTorch-GAN implementations/softmax_gan/softmax_gan.py",
        files={"gan.py": _src("""
            import torch
            import torch.nn as nn

            G = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16))
            D = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
            opt_g = torch.optim.Adam(G.parameters())
            opt_d = torch.optim.Adam(D.parameters())
            for real in loader:
                opt_g.zero_grad()
                opt_d.zero_grad()
                d_real = D(real)
                d_fake = D(G(torch.randn(real.size(0), 8)))
                z = torch.exp(-d_real).sum() + torch.exp(-d_fake).sum()
                d_loss = d_real.mean() + torch.log(z)
                d_loss.backward(retain_graph=True)
                opt_d.step()
                g_loss = (d_real.mean() + d_fake.mean()) / 2 + torch.log(z)
                g_loss.backward()
                opt_g.step()
        """)},
        expected=(("gan.py", 18),),
    ),
    Repro(
        name="critic-loss-through-generator-stepped-every-k",
        rule="PT-GRAD009",
        kind="miss",
        seen_in="eriklindernoren/PyTorch-GAN implementations/cluster_gan/clustergan.py",
        files={"cgan.py": _src("""
            import itertools

            import torch
            import torch.nn.functional as F

            opt_ge = torch.optim.Adam(itertools.chain(encoder.parameters(), generator.parameters()), lr=1e-4)
            opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-4)
            for i, (imgs, _) in enumerate(loader):
                opt_ge.zero_grad()
                fake = generator(torch.randn(imgs.size(0), 30))
                d_fake = discriminator(fake)
                d_real = discriminator(imgs)
                if i % 5 == 0:
                    ge_loss = d_fake.mean() + F.mse_loss(encoder(fake), torch.zeros(imgs.size(0), 30))
                    ge_loss.backward(retain_graph=True)
                    opt_ge.step()
                opt_d.zero_grad()
                d_loss = d_real.mean() - d_fake.mean()
                d_loss.backward()
                opt_d.step()
        """)},
        expected=(("cgan.py", 19),),
    ),
    Repro(
        name="agent-wrapper-eval-method",
        rule="PT-MODE001",
        kind="false-alarm",
        seen_in="Kaixhin/Rainbow agent.py (evaluate_q, called after dqn.eval())",
        files={"agent.py": _src("""
            import torch
            import torch.nn as nn


            class Agent:
                def __init__(self):
                    self.net = nn.Sequential(nn.Linear(4, 64), nn.Dropout(0.1), nn.Linear(64, 2))

                def evaluate_q(self, state):
                    with torch.no_grad():
                        return self.net(state).max(1)[0].item()

                def train(self):
                    self.net.train()

                def eval(self):
                    self.net.eval()
        """)},
    ),
    Repro(
        name="sampling-noise-dropout",
        rule="PT-MODE003",
        kind="false-alarm",
        seen_in="CompVis/latent-diffusion ldm/models/diffusion/ddpm.py (p_sample noise_dropout)",
        files={"ddpm.py": _src("""
            import torch
            import torch.nn as nn


            class Diffusion(nn.Module):
                def p_sample(self, x, t, noise_dropout=0.0):
                    mean = self.model(x, t)
                    noise = torch.randn_like(x)
                    if noise_dropout > 0.0:
                        noise = torch.nn.functional.dropout(noise, p=noise_dropout)
                    return mean + noise
        """)},
    ),
    Repro(
        name="cpu-helper-moved-by-caller",
        rule="PT-DEV004",
        kind="false-alarm",
        seen_in="CompVis/latent-diffusion ldm/models/diffusion/ddpm.py (meshgrid / delta_border / get_weighting)",
        files={"ddpm.py": _src("""
            import torch
            import torch.nn as nn


            class Folding(nn.Module):
                def meshgrid(self, h, w):
                    y = torch.arange(0, h).view(h, 1, 1).repeat(1, w, 1)
                    x = torch.arange(0, w).view(1, w, 1).repeat(h, 1, 1)
                    return torch.cat([y, x], dim=-1)

                def delta_border(self, h, w):
                    corner = torch.tensor([h - 1, w - 1]).view(1, 1, 2)
                    arr = self.meshgrid(h, w) / corner
                    return torch.min(arr, dim=-1)[0]

                def forward(self, x):
                    return x * self.delta_border(x.shape[-2], x.shape[-1]).to(x.device)
        """)},
    ),
    Repro(
        name="callee-forward-under-inference-mode",
        rule="PT-GRAD001",
        kind="false-alarm",
        seen_in="facebookresearch/dinov2 dinov2/eval/linear.py:507 (ModelWithIntermediateLayers in eval/utils.py)",
        files={
            "utils.py": _src("""
                import torch
                import torch.nn as nn


                class WithIntermediateLayers(nn.Module):
                    def __init__(self, backbone):
                        super().__init__()
                        self.backbone = backbone

                    def forward(self, images):
                        with torch.inference_mode():
                            out = self.backbone(images)
                        return out
            """),
            "linear.py": _src("""
                import torch

                from utils import WithIntermediateLayers


                def eval_features(backbone, loader):
                    feature_model = WithIntermediateLayers(backbone)
                    outs = []
                    for images, _ in loader:
                        outs.append(feature_model(images))
                    return torch.cat(outs)
            """),
        },
    ),
    Repro(
        name="split-seed-in-helper",
        rule="PT-REP006",
        kind="false-alarm",
        seen_in="facebookresearch/dinov2 dinov2/eval/log_regression.py (manual_seed(0) for the 10% hold-out)",
        files={"logreg.py": _src("""
            import torch
            import torch.backends.cudnn as cudnn


            def holdout(features, finetune_on_val):
                if not finetune_on_val:
                    torch.manual_seed(0)
                    idx = torch.randperm(len(features))
                    return features[idx[len(features) // 10:]]
                return features


            def main(model, extract):
                cudnn.benchmark = True
                return holdout(extract(model), False)
        """)},
    ),
    Repro(
        name="resume-step-from-filename",
        rule="PT-IO005",
        kind="false-alarm",
        seen_in="openai/guided-diffusion scripts/classifier_train.py (parse_resume_step_from_filename)",
        files={"train.py": _src("""
            import torch


            def main(model, args, data, parse_resume_step_from_filename):
                resume_step = 0
                if args.resume_checkpoint:
                    resume_step = parse_resume_step_from_filename(args.resume_checkpoint)
                    model.load_state_dict(torch.load(args.resume_checkpoint))
                opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
                if args.resume_checkpoint:
                    opt.load_state_dict(torch.load(f"opt{resume_step:06}.pt"))
                for step in range(args.iterations - resume_step):
                    opt.zero_grad()
                    model(next(data)).mean().backward()
                    opt.step()
                    torch.save(opt.state_dict(), f"opt{step + resume_step:06}.pt")
        """)},
    ),
    Repro(
        name="dataparallel-saved-and-loaded-wrapped",
        rule="PT-IO007",
        kind="false-alarm",
        seen_in="clovaai/deep-text-recognition-benchmark train.py (DataParallel before every load_state_dict)",
        files={"train.py": _src("""
            import torch


            def train(model, opt, saved_model, loader):
                model = torch.nn.DataParallel(model).cuda()
                if saved_model:
                    model.load_state_dict(torch.load(saved_model))
                for it, (x, y) in enumerate(loader):
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    opt.step()
                    if (it + 1) % 1000 == 0:
                        torch.save(model.state_dict(), f"iter_{it + 1}.pth")
        """)},
    ),
    # ---------------------------------------------------------------- fresh batch 4 (read at 13:30 UTC)
    Repro(
        name="conditional-gan-generator-loss-after-critic-step",
        rule="PT-GRAD009",
        kind="miss",
        seen_in="MorvanZhou/PyTorch-Tutorial tutorial-contents/406_conditional_GAN.py",
        files={"cgan.py": _src("""
            import torch
            import torch.nn as nn

            G = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 15))
            D = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
            opt_D = torch.optim.Adam(D.parameters(), lr=1e-4)
            opt_G = torch.optim.Adam(G.parameters(), lr=1e-4)
            for step in range(1000):
                real, labels = sample_real()
                fake = G(torch.cat((torch.randn(64, 5), labels), 1))
                p_real = D(torch.cat((real, labels), 1))
                p_fake = D(torch.cat((fake, labels), 1))
                D_loss = -torch.mean(torch.log(p_real) + torch.log(1.0 - p_fake))
                G_loss = torch.mean(torch.log(1.0 - p_fake))
                opt_D.zero_grad()
                D_loss.backward(retain_graph=True)
                opt_D.step()
                opt_G.zero_grad()
                G_loss.backward()
                opt_G.step()
        """)},
        expected=(("cgan.py", 19),),
    ),
    Repro(
        name="weights-reloaded-for-prediction",
        rule="PT-IO004",
        kind="false-alarm",
        seen_in="MorvanZhou/PyTorch-Tutorial tutorial-contents/304_save_reload.py",
        files={"save_reload.py": _src("""
            import torch
            import torch.nn as nn


            def save(x, y):
                net = nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 1))
                opt = torch.optim.SGD(net.parameters(), lr=0.5)
                for _ in range(100):
                    opt.zero_grad()
                    nn.functional.mse_loss(net(x), y).backward()
                    opt.step()
                torch.save(net.state_dict(), "net_params.pkl")


            def restore_params(x):
                net = nn.Sequential(nn.Linear(1, 10), nn.ReLU(), nn.Linear(10, 1))
                net.load_state_dict(torch.load("net_params.pkl"))
                return net(x)
        """)},
    ),
    Repro(
        name="lists-rebuilt-per-epoch-by-tuple-assignment",
        rule="PT-MEM002",
        kind="false-alarm",
        seen_in="MorvanZhou/PyTorch-Tutorial tutorial-contents/504_batch_normalization.py",
        files={"bn.py": _src("""
            import torch
            import torch.nn as nn

            nets = [nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.Linear(8, 1)) for _ in range(2)]
            opts = [torch.optim.Adam(n.parameters()) for n in nets]
            for epoch in range(10):
                outs, hiddens = [], []
                for net in nets:
                    net.eval()
                    out = net(test_x)
                    outs.append(out)
                    hiddens.append(net[0](test_x))
                    net.train()
                plot(outs, hiddens)
                for x, y in loader:
                    for net, opt in zip(nets, opts):
                        opt.zero_grad()
                        nn.functional.mse_loss(net(x), y).backward()
                        opt.step()
        """)},
    ),
    Repro(
        name="module-level-smoke-test-before-training",
        rule="PT-MODE001",
        kind="false-alarm",
        seen_in="hunkim/PyTorchZeroToAll 14_1_seq2seq.py (test() on the fresh models, then training)",
        files={"seq2seq.py": _src("""
            import torch
            import torch.nn as nn


            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.emb = nn.Embedding(128, 32)
                    self.drop = nn.Dropout(0.1)
                    self.gru = nn.GRU(32, 32)

                def forward(self, tokens, h):
                    return self.gru(self.drop(self.emb(tokens)).unsqueeze(1), h)


            def test():
                out, h = encoder(torch.tensor([1, 2, 3]), torch.zeros(1, 1, 32))
                print(out.size(), h.size())


            encoder = Encoder()
            test()
            optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
            for tokens, target in loader:
                optimizer.zero_grad()
                out, _ = encoder(tokens, torch.zeros(1, 1, 32))
                nn.functional.mse_loss(out, target).backward()
                optimizer.step()
        """)},
    ),
    Repro(
        name="module-level-smoke-test-before-training-grad",
        rule="PT-GRAD001",
        kind="false-alarm",
        seen_in="hunkim/PyTorchZeroToAll 14_1_seq2seq.py (test() on the fresh models, then training)",
        files={"seq2seq.py": _src("""
            import torch
            import torch.nn as nn


            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.emb = nn.Embedding(128, 32)
                    self.drop = nn.Dropout(0.1)
                    self.gru = nn.GRU(32, 32)

                def forward(self, tokens, h):
                    return self.gru(self.drop(self.emb(tokens)).unsqueeze(1), h)


            def test():
                out, h = encoder(torch.tensor([1, 2, 3]), torch.zeros(1, 1, 32))
                print(out.size(), h.size())


            encoder = Encoder()
            test()
            optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-3)
            for tokens, target in loader:
                optimizer.zero_grad()
                out, _ = encoder(tokens, torch.zeros(1, 1, 32))
                nn.functional.mse_loss(out, target).backward()
                optimizer.step()
        """)},
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
