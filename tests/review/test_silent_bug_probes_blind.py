"""Blind silent-bug probes (batch 4): one bug per snippet with its fixed twin, written before running the reviewer.

Each probe is a short snippet in a style unlike the rule fixtures (trainer classes, notebook cells, helpers,
Lightning/HF idioms) plus the same snippet with the bug fixed. The rule must report the bug and must stay
silent on the twin (issue 11: >= 90% reported, 0 findings of the same kind on the fixed twins).
"""

from __future__ import annotations

import textwrap

import pytest

from pytorch_patterns.skill.review import review_source

PROBES: list[tuple[str, str, str, str]] = [
    # (id, rule, buggy, fixed)
    ("data004-trainer-attr-loader", "PT-DATA004", """
        import torch
        from torch.utils.data import DataLoader

        class Fitter:
            def __init__(self, model, train_ds, lr=1e-3):
                self.model = model
                self.loader = DataLoader(train_ds, batch_size=64, num_workers=4, pin_memory=True)
                self.opt = torch.optim.Adam(model.parameters(), lr=lr)

            def fit(self, epochs):
                for _ in range(epochs):
                    self.model.train()
                    for x, y in self.loader:
                        self.opt.zero_grad()
                        torch.nn.functional.cross_entropy(self.model(x), y).backward()
                        self.opt.step()
        """, """
        import torch
        from torch.utils.data import DataLoader

        class Fitter:
            def __init__(self, model, train_ds, lr=1e-3):
                self.model = model
                self.loader = DataLoader(train_ds, batch_size=64, shuffle=True, num_workers=4, pin_memory=True)
                self.opt = torch.optim.Adam(model.parameters(), lr=lr)

            def fit(self, epochs):
                for _ in range(epochs):
                    self.model.train()
                    for x, y in self.loader:
                        self.opt.zero_grad()
                        torch.nn.functional.cross_entropy(self.model(x), y).backward()
                        self.opt.step()
        """),
    ("data005-val-loader-drop-last", "PT-DATA005", """
        import torch
        from torch.utils.data import DataLoader

        def make_loaders(train_ds, val_ds, bs):
            train_dl = DataLoader(train_ds, bs, shuffle=True, drop_last=True, num_workers=4)
            val_dl = DataLoader(val_ds, bs, shuffle=False, drop_last=True, num_workers=4)
            return train_dl, val_dl

        @torch.no_grad()
        def validate(model, val_dl):
            model.eval()
            correct = seen = 0
            for x, y in val_dl:
                correct += (model(x).argmax(1) == y).sum().item()
                seen += len(y)
            return correct / seen
        """, """
        import torch
        from torch.utils.data import DataLoader

        def make_loaders(train_ds, val_ds, bs):
            train_dl = DataLoader(train_ds, bs, shuffle=True, drop_last=True, num_workers=4)
            val_dl = DataLoader(val_ds, bs, shuffle=False, num_workers=4)
            return train_dl, val_dl

        @torch.no_grad()
        def validate(model, val_dl):
            model.eval()
            correct = seen = 0
            for x, y in val_dl:
                correct += (model(x).argmax(1) == y).sum().item()
                seen += len(y)
            return correct / seen
        """),
    ("opt003-last-window-dropped", "PT-OPT003", """
        import torch

        def train_epoch(model, loader, optimizer, accum=8):
            model.train()
            optimizer.zero_grad()
            for i, (x, y) in enumerate(loader):
                loss = torch.nn.functional.mse_loss(model(x), y) / accum
                loss.backward()
                if (i + 1) % accum == 0:
                    optimizer.step()
                    optimizer.zero_grad()
        """, """
        import torch

        def train_epoch(model, loader, optimizer, accum=8):
            model.train()
            optimizer.zero_grad()
            for i, (x, y) in enumerate(loader):
                loss = torch.nn.functional.mse_loss(model(x), y) / accum
                loss.backward()
                if (i + 1) % accum == 0 or (i + 1) == len(loader):
                    optimizer.step()
                    optimizer.zero_grad()
        """),
    ("opt004-step-without-backward", "PT-OPT004", """
        import torch

        def finetune(model, loader, epochs=3):
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            for _ in range(epochs):
                for x, y in loader:
                    opt.zero_grad()
                    out = model(x)
                    loss = torch.nn.functional.cross_entropy(out, y)
                    opt.step()
                    print(loss.item())
        """, """
        import torch

        def finetune(model, loader, epochs=3):
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            for _ in range(epochs):
                for x, y in loader:
                    opt.zero_grad()
                    out = model(x)
                    loss = torch.nn.functional.cross_entropy(out, y)
                    loss.backward()
                    opt.step()
                    print(loss.item())
        """),
    ("opt004-zero-grad-after-backward", "PT-OPT004", """
        import torch

        def train(net, data, opt, epochs):
            for epoch in range(epochs):
                for inputs, targets in data:
                    loss = torch.nn.functional.l1_loss(net(inputs), targets)
                    loss.backward()
                    opt.zero_grad()
                    opt.step()
        """, """
        import torch

        def train(net, data, opt, epochs):
            for epoch in range(epochs):
                for inputs, targets in data:
                    loss = torch.nn.functional.l1_loss(net(inputs), targets)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        """),
    ("opt005-clip-before-backward", "PT-OPT005", """
        import torch
        import torch.nn as nn

        def step(model, batch, optimizer, max_norm=1.0):
            x, y = batch
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x), y)
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            loss.backward()
            optimizer.step()
            return loss.item()

        def fit(model, loader, optimizer):
            for batch in loader:
                step(model, batch, optimizer)
        """, """
        import torch
        import torch.nn as nn

        def step(model, batch, optimizer, max_norm=1.0):
            x, y = batch
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            return loss.item()

        def fit(model, loader, optimizer):
            for batch in loader:
                step(model, batch, optimizer)
        """),
    ("amp004-trainer-method-no-update", "PT-AMP004", """
        import torch

        class AmpTrainer:
            def __init__(self, model, optimizer):
                self.model = model
                self.optimizer = optimizer
                self.scaler = torch.amp.GradScaler("cuda")

            def train_step(self, x, y):
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = torch.nn.functional.cross_entropy(self.model(x), y)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                return loss.detach()

            def train(self, loader):
                for x, y in loader:
                    self.train_step(x.cuda(), y.cuda())
        """, """
        import torch

        class AmpTrainer:
            def __init__(self, model, optimizer):
                self.model = model
                self.optimizer = optimizer
                self.scaler = torch.amp.GradScaler("cuda")

            def train_step(self, x, y):
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = torch.nn.functional.cross_entropy(self.model(x), y)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                return loss.detach()

            def train(self, loader):
                for x, y in loader:
                    self.train_step(x.cuda(), y.cuda())
        """),
    ("mode004-is-training-flag", "PT-MODE004", """
        import torch
        import torch.nn.functional as F

        def epoch_pass(model, loader, opt=None, is_training=True):
            total = 0.0
            with torch.set_grad_enabled(is_training):
                for x, y in loader:
                    loss = F.cross_entropy(model(x), y)
                    if is_training:
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                    total += loss.item()
            return total / len(loader)

        def main(model, train_loader, val_loader, opt):
            model.train()
            for epoch in range(10):
                epoch_pass(model, train_loader, opt, is_training=True)
                print(epoch_pass(model, val_loader, is_training=False))
        """, """
        import torch
        import torch.nn.functional as F

        def epoch_pass(model, loader, opt=None, is_training=True):
            model.train(is_training)
            total = 0.0
            with torch.set_grad_enabled(is_training):
                for x, y in loader:
                    loss = F.cross_entropy(model(x), y)
                    if is_training:
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                    total += loss.item()
            return total / len(loader)

        def main(model, train_loader, val_loader, opt):
            model.train()
            for epoch in range(10):
                epoch_pass(model, train_loader, opt, is_training=True)
                print(epoch_pass(model, val_loader, is_training=False))
        """),
    ("loss001-model-returns-tuple-softmax", "PT-LOSS001", """
        import torch
        import torch.nn as nn

        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
                self.fc = nn.Linear(128, 10)

            def forward(self, x):
                feats = self.backbone(x)
                return torch.softmax(self.fc(feats), dim=-1), feats

        model = Classifier()
        criterion = nn.CrossEntropyLoss()
        opt = torch.optim.Adam(model.parameters())
        for x, y in loader:
            probs, _ = model(x)
            loss = criterion(probs, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        """, """
        import torch
        import torch.nn as nn

        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
                self.fc = nn.Linear(128, 10)

            def forward(self, x):
                feats = self.backbone(x)
                return self.fc(feats), feats

        model = Classifier()
        criterion = nn.CrossEntropyLoss()
        opt = torch.optim.Adam(model.parameters())
        for x, y in loader:
            logits, _ = model(x)
            loss = criterion(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        """),
    ("loss003-relu-into-bce-logits", "PT-LOSS003", """
        import torch
        import torch.nn as nn

        head = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 1), nn.ReLU())
        bce = nn.BCEWithLogitsLoss()
        opt = torch.optim.AdamW(head.parameters(), lr=1e-3)
        for feats, target in loader:
            score = head(feats).squeeze(1)
            loss = bce(score, target.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
        """, """
        import torch
        import torch.nn as nn

        head = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 1))
        bce = nn.BCEWithLogitsLoss()
        opt = torch.optim.AdamW(head.parameters(), lr=1e-3)
        for feats, target in loader:
            score = head(feats).squeeze(1)
            loss = bce(score, target.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
        """),
    ("loss004-nllloss-on-linear", "PT-LOSS004", """
        import torch
        import torch.nn as nn

        class TextCNN(nn.Module):
            def __init__(self, vocab, n_cls):
                super().__init__()
                self.emb = nn.Embedding(vocab, 128)
                self.conv = nn.Conv1d(128, 100, 5)
                self.fc = nn.Linear(100, n_cls)

            def forward(self, ids):
                h = torch.relu(self.conv(self.emb(ids).transpose(1, 2))).max(dim=2).values
                return self.fc(h)

        model = TextCNN(20000, 4)
        criterion = nn.NLLLoss()
        optimizer = torch.optim.Adam(model.parameters())
        for ids, labels in train_iter:
            optimizer.zero_grad()
            loss = criterion(model(ids), labels)
            loss.backward()
            optimizer.step()
        """, """
        import torch
        import torch.nn as nn

        class TextCNN(nn.Module):
            def __init__(self, vocab, n_cls):
                super().__init__()
                self.emb = nn.Embedding(vocab, 128)
                self.conv = nn.Conv1d(128, 100, 5)
                self.fc = nn.Linear(100, n_cls)

            def forward(self, ids):
                h = torch.relu(self.conv(self.emb(ids).transpose(1, 2))).max(dim=2).values
                return torch.log_softmax(self.fc(h), dim=-1)

        model = TextCNN(20000, 4)
        criterion = nn.NLLLoss()
        optimizer = torch.optim.Adam(model.parameters())
        for ids, labels in train_iter:
            optimizer.zero_grad()
            loss = criterion(model(ids), labels)
            loss.backward()
            optimizer.step()
        """),
    ("io005-resume-without-scheduler", "PT-IO005", """
        import os
        import torch

        def train(model, loader, epochs, path="ckpt.pt"):
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
            start = 0
            if os.path.exists(path):
                ck = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["opt"])
                start = ck["epoch"] + 1
            for epoch in range(start, epochs):
                for x, y in loader:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    opt.step()
                sched.step()
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                            "sched": sched.state_dict(), "epoch": epoch}, path)
        """, """
        import os
        import torch

        def train(model, loader, epochs, path="ckpt.pt"):
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
            start = 0
            if os.path.exists(path):
                ck = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["opt"])
                sched.load_state_dict(ck["sched"])
                start = ck["epoch"] + 1
            for epoch in range(start, epochs):
                for x, y in loader:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    opt.step()
                sched.step()
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                            "sched": sched.state_dict(), "epoch": epoch}, path)
        """),
    ("io006-resume-from-saved-epoch", "PT-IO006", """
        import torch

        model, optimizer = build()
        checkpoint = torch.load("last.pth", weights_only=True)
        model.load_state_dict(checkpoint["model_state"])
        optimizer.load_state_dict(checkpoint["optim_state"])
        first_epoch = checkpoint["epoch"]
        for epoch in range(first_epoch, 100):
            train_one_epoch(model, optimizer)
            torch.save({"model_state": model.state_dict(), "optim_state": optimizer.state_dict(),
                        "epoch": epoch}, "last.pth")
        """, """
        import torch

        model, optimizer = build()
        checkpoint = torch.load("last.pth", weights_only=True)
        model.load_state_dict(checkpoint["model_state"])
        optimizer.load_state_dict(checkpoint["optim_state"])
        first_epoch = checkpoint["epoch"] + 1
        for epoch in range(first_epoch, 100):
            train_one_epoch(model, optimizer)
            torch.save({"model_state": model.state_dict(), "optim_state": optimizer.state_dict(),
                        "epoch": epoch}, "last.pth")
        """),
    ("dev005-cuda-statement", "PT-DEV005", """
        import torch

        def train(model, loader, opt):
            model.cuda()
            for images, masks in loader:
                images = images.cuda(non_blocking=True)
                masks.cuda(non_blocking=True)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images), masks)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """, """
        import torch

        def train(model, loader, opt):
            model.cuda()
            for images, masks in loader:
                images = images.cuda(non_blocking=True)
                masks = masks.cuda(non_blocking=True)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images), masks)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """),
    ("mod004-class-weights-attribute", "PT-MOD004", """
        import torch
        import torch.nn as nn

        class WeightedHead(nn.Module):
            def __init__(self, dim, class_counts):
                super().__init__()
                self.fc = nn.Linear(dim, len(class_counts))
                counts = torch.as_tensor(class_counts, dtype=torch.float32)
                self.prior = torch.log(counts / counts.sum())

            def forward(self, x):
                return self.fc(x) + self.prior
        """, """
        import torch
        import torch.nn as nn

        class WeightedHead(nn.Module):
            def __init__(self, dim, class_counts):
                super().__init__()
                self.fc = nn.Linear(dim, len(class_counts))
                counts = torch.as_tensor(class_counts, dtype=torch.float32)
                self.register_buffer("prior", torch.log(counts / counts.sum()))

            def forward(self, x):
                return self.fc(x) + self.prior
        """),
    ("opt006-head-replaced-after-optimizer", "PT-OPT006", """
        import torch
        import torch.nn as nn
        import torchvision

        net = torchvision.models.resnet18(weights="IMAGENET1K_V1")
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        net.fc = nn.Linear(net.fc.in_features, 5)
        for epoch in range(10):
            for x, y in loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(net(x), y).backward()
                optimizer.step()
        """, """
        import torch
        import torch.nn as nn
        import torchvision

        net = torchvision.models.resnet18(weights="IMAGENET1K_V1")
        net.fc = nn.Linear(net.fc.in_features, 5)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        for epoch in range(10):
            for x, y in loader:
                optimizer.zero_grad()
                nn.functional.cross_entropy(net(x), y).backward()
                optimizer.step()
        """),
    ("io007-dataparallel-state-dict", "PT-IO007", """
        import torch
        import torch.nn as nn

        model = nn.DataParallel(build_model()).cuda()
        for epoch in range(epochs):
            train(model)
            torch.save(model.state_dict(), f"weights/epoch{epoch}.pth")
        """, """
        import torch
        import torch.nn as nn

        model = nn.DataParallel(build_model()).cuda()
        for epoch in range(epochs):
            train(model)
            torch.save(model.module.state_dict(), f"weights/epoch{epoch}.pth")
        """),
    ("io008-strict-false-ignored", "PT-IO008", """
        import torch

        def init_from_pretrained(model, path):
            sd = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(sd, strict=False)
            return model
        """, """
        import torch

        def init_from_pretrained(model, path):
            sd = torch.load(path, map_location="cpu", weights_only=True)
            missing, unexpected = model.load_state_dict(sd, strict=False)
            if missing or unexpected:
                print(f"missing {missing}, unexpected {unexpected}")
            return model
        """),
    ("io009-weights-only-false", "PT-IO009", """
        import torch

        def load_for_eval(model, ckpt_file):
            state = torch.load(ckpt_file, map_location="cpu", weights_only=False)
            model.load_state_dict(state["model"])
            return model.eval()
        """, """
        import torch

        def load_for_eval(model, ckpt_file):
            state = torch.load(ckpt_file, map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"])
            return model.eval()
        """),
    ("opt007-steplr-epochs-per-batch", "PT-OPT007", """
        import torch

        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60, 80], gamma=0.1)
        for epoch in range(90):
            model.train()
            for images, labels in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(images), labels)
                loss.backward()
                optimizer.step()
                scheduler.step()
        """, """
        import torch

        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60, 80], gamma=0.1)
        for epoch in range(90):
            model.train()
            for images, labels in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(images), labels)
                loss.backward()
                optimizer.step()
            scheduler.step()
        """),
    ("opt008-lr-decay-variable", "PT-OPT008", """
        import torch

        learning_rate = 0.01
        optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
        for epoch in range(60):
            if epoch in (20, 40):
                learning_rate *= 0.1
            for x, y in loader:
                optimizer.zero_grad()
                criterion(net(x), y).backward()
                optimizer.step()
            print(f"epoch {epoch} lr {learning_rate}")
        """, """
        import torch

        learning_rate = 0.01
        optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
        for epoch in range(60):
            if epoch in (20, 40):
                learning_rate *= 0.1
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate
            for x, y in loader:
                optimizer.zero_grad()
                criterion(net(x), y).backward()
                optimizer.step()
            print(f"epoch {epoch} lr {learning_rate}")
        """),
    ("data006-sampler-no-set-epoch", "PT-DATA006", """
        import torch
        import torch.distributed as dist
        from torch.utils.data import DataLoader, DistributedSampler

        dist.init_process_group("nccl")
        sampler = DistributedSampler(dataset)
        loader = DataLoader(dataset, batch_size=32, sampler=sampler, num_workers=4)
        for epoch in range(args.epochs):
            for batch in loader:
                loss = model(batch).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """, """
        import torch
        import torch.distributed as dist
        from torch.utils.data import DataLoader, DistributedSampler

        dist.init_process_group("nccl")
        sampler = DistributedSampler(dataset)
        loader = DataLoader(dataset, batch_size=32, sampler=sampler, num_workers=4)
        for epoch in range(args.epochs):
            sampler.set_epoch(epoch)
            for batch in loader:
                loss = model(batch).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """),
    ("data007-lambda-worker-init", "PT-DATA007", """
        import numpy as np
        from torch.utils.data import DataLoader

        loader = DataLoader(train_set, batch_size=16, shuffle=True, num_workers=8,
                            worker_init_fn=lambda wid: np.random.seed(1234 + wid))
        """, """
        import numpy as np
        from torch.utils.data import DataLoader

        def init_worker(wid):
            np.random.seed(1234 + wid)

        loader = DataLoader(train_set, batch_size=16, shuffle=True, num_workers=8, worker_init_fn=init_worker)
        """),
    ("data008-open-file-in-init", "PT-DATA008", """
        import torch
        from torch.utils.data import DataLoader, Dataset

        class ByteShards(Dataset):
            def __init__(self, path, record=4096):
                self.f = open(path, "rb")
                self.f.seek(0, 2)
                self.n = self.f.tell() // record
                self.record = record

            def __len__(self):
                return self.n

            def __getitem__(self, i):
                self.f.seek(i * self.record)
                return torch.frombuffer(bytearray(self.f.read(self.record)), dtype=torch.uint8)

        loader = DataLoader(ByteShards("train.bin"), batch_size=64, shuffle=True, num_workers=6)
        """, """
        import os
        import torch
        from torch.utils.data import DataLoader, Dataset

        class ByteShards(Dataset):
            def __init__(self, path, record=4096):
                self.path = path
                self.f = None
                self.n = os.path.getsize(path) // record
                self.record = record

            def __len__(self):
                return self.n

            def __getitem__(self, i):
                if self.f is None:
                    self.f = open(self.path, "rb")
                self.f.seek(i * self.record)
                return torch.frombuffer(bytearray(self.f.read(self.record)), dtype=torch.uint8)

        loader = DataLoader(ByteShards("train.bin"), batch_size=64, shuffle=True, num_workers=6)
        """),
    ("mem003-gru-state-in-trainer", "PT-MEM003", """
        import torch
        import torch.nn as nn

        class StreamTrainer:
            def __init__(self, model, opt):
                self.model, self.opt = model, opt
                self.state = None

            def run(self, stream):
                for x, y in stream:
                    out, self.state = self.model(x, self.state)
                    loss = nn.functional.mse_loss(out, y)
                    self.opt.zero_grad()
                    loss.backward()
                    self.opt.step()
        """, """
        import torch
        import torch.nn as nn

        class StreamTrainer:
            def __init__(self, model, opt):
                self.model, self.opt = model, opt
                self.state = None

            def run(self, stream):
                for x, y in stream:
                    out, state = self.model(x, self.state)
                    self.state = state.detach()
                    loss = nn.functional.mse_loss(out, y)
                    self.opt.zero_grad()
                    loss.backward()
                    self.opt.step()
        """),
    ("mem004-retain-graph-habit", "PT-MEM004", """
        import torch

        for epoch in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward(retain_graph=True)
                optimizer.step()
        """, """
        import torch

        for epoch in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
        """),
    ("rep006-benchmark-with-seed", "PT-REP006", """
        import random
        import numpy as np
        import torch

        def seed_everything(seed=42):
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            torch.cuda.manual_seed_all(seed)
            torch.backends.cudnn.benchmark = True

        seed_everything()
        for epoch in range(10):
            for x, y in loader:
                opt.zero_grad(); criterion(model(x), y).backward(); opt.step()
        """, """
        import random
        import numpy as np
        import torch

        def seed_everything(seed=42):
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            torch.cuda.manual_seed_all(seed)
            torch.backends.cudnn.benchmark = False

        seed_everything()
        for epoch in range(10):
            for x, y in loader:
                opt.zero_grad(); criterion(model(x), y).backward(); opt.step()
        """),
    ("rep007-seed-in-epoch-batches", "PT-REP007", """
        import torch

        torch.manual_seed(0)
        for epoch in range(20):
            for step, (x, y) in enumerate(train_loader):
                torch.manual_seed(0)
                noise = torch.randn_like(x) * 0.1
                loss = criterion(model(x + noise), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """, """
        import torch

        torch.manual_seed(0)
        for epoch in range(20):
            for step, (x, y) in enumerate(train_loader):
                noise = torch.randn_like(x) * 0.1
                loss = criterion(model(x + noise), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """),
    ("amp005-autocast-loss-only", "PT-AMP005", """
        import torch

        scaler = torch.amp.GradScaler()
        for x, y in loader:
            x, y = x.cuda(), y.cuda()
            pred = model(x)
            with torch.autocast("cuda"):
                loss = loss_fn(pred, y)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        """, """
        import torch

        scaler = torch.amp.GradScaler()
        for x, y in loader:
            x, y = x.cuda(), y.cuda()
            with torch.autocast("cuda"):
                pred = model(x)
                loss = loss_fn(pred, y)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        """),
    ("amp006-half-then-adam", "PT-AMP006", """
        import torch

        model = build_unet().cuda().half()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        for img, mask in loader:
            img, mask = img.cuda().half(), mask.cuda().half()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(img), mask)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        """, """
        import torch

        model = build_unet().cuda()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler("cuda")
        for img, mask in loader:
            img, mask = img.cuda(), mask.cuda()
            with torch.autocast("cuda", dtype=torch.float16):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(img), mask)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        """),
    ("amp007-bf16-choice", "PT-AMP007", """
        import torch

        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        print("training with", amp_dtype)
        """, """
        import torch

        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
        print("training with", amp_dtype)
        """),
    # A first probe compiled once per *epoch*; PT-PERF003 deliberately accepts that (dynamo's cache makes a
    # re-wrap per epoch cheap), so the probe now compiles once per step, in a step-counted while loop.
    ("perf003-compile-each-step", "PT-PERF003", """
        import torch

        step = 0
        data = iter(loader)
        while step < max_steps:
            x, y = next(data)
            fast = torch.compile(model, mode="max-autotune")
            loss = loss_fn(fast(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        """, """
        import torch

        step = 0
        data = iter(loader)
        fast = torch.compile(model, mode="max-autotune")
        while step < max_steps:
            x, y = next(data)
            loss = loss_fn(fast(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        """),
    ("perf004-perf-counter-no-sync", "PT-PERF004", """
        import time
        import torch

        x = torch.randn(8192, 8192, device="cuda")
        t0 = time.perf_counter()
        for _ in range(10):
            y = x @ x
        elapsed = time.perf_counter() - t0
        print(f"matmul: {elapsed / 10 * 1e3:.2f} ms")
        """, """
        import time
        import torch

        x = torch.randn(8192, 8192, device="cuda")
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(10):
            y = x @ x
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        print(f"matmul: {elapsed / 10 * 1e3:.2f} ms")
        """),
    ("num003-softmax-attention-no-dim", "PT-NUM003", """
        import torch.nn.functional as F

        def attend(q, k, v):
            w = F.softmax(q @ k.transpose(-2, -1) / q.size(-1) ** 0.5)
            return w @ v
        """, """
        import torch.nn.functional as F

        def attend(q, k, v):
            w = F.softmax(q @ k.transpose(-2, -1) / q.size(-1) ** 0.5, dim=-1)
            return w @ v
        """),
    ("api002-tensor-of-tensor", "PT-API002", """
        import torch

        def to_batch(features):
            feats = torch.stack(features)
            return torch.tensor(feats, dtype=torch.float32)
        """, """
        import torch

        def to_batch(features):
            feats = torch.stack(features)
            return feats.to(torch.float32)
        """),
    ("api003-tf32-mixed", "PT-API003", """
        import torch

        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.allow_tf32 = True
        """, """
        import torch

        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        """),
    ("grad008-data-add-in-forward", "PT-GRAD008", """
        import torch.nn as nn

        class ResBlock(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.bn = nn.BatchNorm2d(c)

            def forward(self, x):
                out = self.bn(self.conv(x))
                out.data.add_(x)
                return out.relu()
        """, """
        import torch.nn as nn

        class ResBlock(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3, padding=1)
                self.bn = nn.BatchNorm2d(c)

            def forward(self, x):
                out = self.bn(self.conv(x))
                out = out + x
                return out.relu()
        """),
    ("grad004-inplace-on-linear-input", "PT-GRAD004", """
        import torch.nn as nn

        class Gate(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.proj = nn.Linear(d, d)

            def forward(self, h):
                g = self.proj(h)
                h.mul_(0.5)
                return g * h
        """, """
        import torch.nn as nn

        class Gate(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.proj = nn.Linear(d, d)

            def forward(self, h):
                g = self.proj(h)
                h = h * 0.5
                return g * h
        """),
]


@pytest.mark.parametrize(("rule", "buggy", "fixed"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_blind_probe(rule: str, buggy: str, fixed: str) -> None:
    bug = textwrap.dedent(buggy)
    twin = textwrap.dedent(fixed)
    found = [f for f in review_source(bug, "probe.py") if f.rule == rule]
    assert found, f"{rule} missed the bug:\n{bug}"
    on_twin = [f for f in review_source(twin, "probe_fixed.py") if f.rule == rule]
    assert not on_twin, f"{rule} fired on the fixed twin:\n{twin}\n{on_twin}"


def test_blind_probes_cover_enough_kinds() -> None:
    assert len(PROBES) >= 25
    assert len({rule for _, rule, _, _ in PROBES}) >= 25


# Round 2: written after the round-1 fixes, again before running the reviewer on them.
PROBES_ROUND2: list[tuple[str, str, str, str]] = [
    ("r2-data004-loaders-from-helper", "PT-DATA004", """
        import torch
        from torch.utils.data import DataLoader

        def get_dataloaders(train_ds, val_ds, bs=64):
            train_dl = DataLoader(train_ds, batch_size=bs, num_workers=4, drop_last=True)
            val_dl = DataLoader(val_ds, batch_size=bs * 2, num_workers=4)
            return train_dl, val_dl

        def main(model, train_ds, val_ds):
            train_dl, val_dl = get_dataloaders(train_ds, val_ds)
            opt = torch.optim.AdamW(model.parameters(), 1e-3)
            for epoch in range(30):
                model.train()
                for x, y in train_dl:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    opt.step()
        """, """
        import torch
        from torch.utils.data import DataLoader

        def get_dataloaders(train_ds, val_ds, bs=64):
            train_dl = DataLoader(train_ds, batch_size=bs, shuffle=True, num_workers=4, drop_last=True)
            val_dl = DataLoader(val_ds, batch_size=bs * 2, num_workers=4)
            return train_dl, val_dl

        def main(model, train_ds, val_ds):
            train_dl, val_dl = get_dataloaders(train_ds, val_ds)
            opt = torch.optim.AdamW(model.parameters(), 1e-3)
            for epoch in range(30):
                model.train()
                for x, y in train_dl:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    opt.step()
        """),
    ("r2-opt004-trainer-double-step", "PT-OPT004", """
        import torch

        class Engine:
            def __init__(self, model, optimizer):
                self.model, self.optimizer = model, optimizer
                self.scaler = torch.amp.GradScaler("cuda")

            def step(self, batch):
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = self.model(**batch).loss
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)

            def run(self, loader):
                for batch in loader:
                    self.step(batch)
        """, """
        import torch

        class Engine:
            def __init__(self, model, optimizer):
                self.model, self.optimizer = model, optimizer
                self.scaler = torch.amp.GradScaler("cuda")

            def step(self, batch):
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = self.model(**batch).loss
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)

            def run(self, loader):
                for batch in loader:
                    self.step(batch)
        """),
    ("r2-mode004-no-grad-flag", "PT-MODE004", """
        import torch

        def forward_pass(model, loader, criterion, optimizer=None, train=True):
            total = 0.0
            for x, y in loader:
                if train:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                else:
                    with torch.no_grad():
                        loss = criterion(model(x), y)
                total += loss.item()
            return total / len(loader)

        def fit(model, tr, va, criterion, optimizer, epochs=10):
            model.train()
            for epoch in range(epochs):
                forward_pass(model, tr, criterion, optimizer, train=True)
                val_loss = forward_pass(model, va, criterion, train=False)
                print(epoch, val_loss)
        """, """
        import torch

        def forward_pass(model, loader, criterion, optimizer=None, train=True):
            model.train() if train else model.eval()
            total = 0.0
            for x, y in loader:
                if train:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                else:
                    with torch.no_grad():
                        loss = criterion(model(x), y)
                total += loss.item()
            return total / len(loader)

        def fit(model, tr, va, criterion, optimizer, epochs=10):
            model.train()
            for epoch in range(epochs):
                forward_pass(model, tr, criterion, optimizer, train=True)
                val_loss = forward_pass(model, va, criterion, train=False)
                print(epoch, val_loss)
        """),
    ("r2-loss003-sigmoid-in-forward-bce-logits", "PT-LOSS003", """
        import torch
        import torch.nn as nn

        class Detector(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
                self.cls = nn.Linear(16, 1)

            def forward(self, x):
                return torch.sigmoid(self.cls(self.body(x)))

        model = Detector()
        loss_fn = nn.BCEWithLogitsLoss()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        for img, target in loader:
            loss = loss_fn(model(img).squeeze(1), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        """, """
        import torch
        import torch.nn as nn

        class Detector(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
                self.cls = nn.Linear(16, 1)

            def forward(self, x):
                return self.cls(self.body(x))

        model = Detector()
        loss_fn = nn.BCEWithLogitsLoss()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        for img, target in loader:
            loss = loss_fn(model(img).squeeze(1), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        """),
    ("r2-io005-resume-without-scaler-fn", "PT-IO005", """
        import torch

        def resume(path, model, optimizer, scheduler):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            return ckpt["epoch"] + 1

        def train(model, loader, optimizer, scheduler, epochs, path="ckpt.pt", resume_from=None):
            scaler = torch.amp.GradScaler("cuda")
            start = resume(resume_from, model, optimizer, scheduler) if resume_from else 0
            for epoch in range(start, epochs):
                for x, y in loader:
                    with torch.autocast("cuda", dtype=torch.float16):
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                    optimizer.zero_grad()
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                scheduler.step()
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch}, path)
        """, """
        import torch

        def resume(path, model, optimizer, scheduler, scaler):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            scaler.load_state_dict(ckpt["scaler"])
            return ckpt["epoch"] + 1

        def train(model, loader, optimizer, scheduler, epochs, path="ckpt.pt", resume_from=None):
            scaler = torch.amp.GradScaler("cuda")
            start = resume(resume_from, model, optimizer, scheduler, scaler) if resume_from else 0
            for epoch in range(start, epochs):
                for x, y in loader:
                    with torch.autocast("cuda", dtype=torch.float16):
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                    optimizer.zero_grad()
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                scheduler.step()
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch}, path)
        """),
    ("r2-io007-compiled-state-dict", "PT-IO007", """
        import torch

        model = torch.compile(build_model().cuda())
        for epoch in range(epochs):
            train_one_epoch(model, loader, optimizer)
            torch.save(model.state_dict(), f"ckpt/model_{epoch}.pt")
        """, """
        import torch

        model = torch.compile(build_model().cuda())
        for epoch in range(epochs):
            train_one_epoch(model, loader, optimizer)
            torch.save(model._orig_mod.state_dict(), f"ckpt/model_{epoch}.pt")
        """),
    ("r2-opt007-cosine-in-helper-per-batch", "PT-OPT007", """
        import torch

        def train_one_epoch(model, loader, optimizer, scheduler):
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
                scheduler.step()

        def main(model, loader, epochs=100):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
            for epoch in range(epochs):
                train_one_epoch(model, loader, optimizer, scheduler)
        """, """
        import torch

        def train_one_epoch(model, loader, optimizer, scheduler):
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
                scheduler.step()

        def main(model, loader, epochs=100):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
            for epoch in range(epochs):
                train_one_epoch(model, loader, optimizer, scheduler)
        """),
    ("r2-amp005-criterion-only-in-class", "PT-AMP005", """
        import torch

        class Step:
            def __init__(self, model, criterion, optimizer):
                self.model, self.criterion, self.optimizer = model, criterion, optimizer
                self.scaler = torch.amp.GradScaler("cuda")

            def __call__(self, x, y):
                out = self.model(x)
                with torch.autocast(device_type="cuda", dtype=torch.float16):
                    loss = self.criterion(out, y)
                self.optimizer.zero_grad()
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                return loss.item()
        """, """
        import torch

        class Step:
            def __init__(self, model, criterion, optimizer):
                self.model, self.criterion, self.optimizer = model, criterion, optimizer
                self.scaler = torch.amp.GradScaler("cuda")

            def __call__(self, x, y):
                with torch.autocast(device_type="cuda", dtype=torch.float16):
                    out = self.model(x)
                    loss = self.criterion(out, y)
                self.optimizer.zero_grad()
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                return loss.item()
        """),
    ("r2-rep007-python-random-seed-per-batch", "PT-REP007", """
        import random
        import torch

        random.seed(0)
        torch.manual_seed(0)
        for epoch in range(10):
            for x, y in loader:
                random.seed(0)
                if random.random() < 0.5:
                    x = torch.flip(x, dims=[3])
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
        """, """
        import random
        import torch

        random.seed(0)
        torch.manual_seed(0)
        for epoch in range(10):
            for x, y in loader:
                if random.random() < 0.5:
                    x = torch.flip(x, dims=[3])
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
        """),
    ("r2-dev005-float-statement", "PT-DEV005", """
        import torch

        def dice_step(model, images, masks, optimizer):
            masks.float()
            logits = model(images)
            probs = torch.sigmoid(logits)
            loss = 1 - (2 * (probs * masks).sum() + 1) / (probs.sum() + masks.sum() + 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        """, """
        import torch

        def dice_step(model, images, masks, optimizer):
            masks = masks.float()
            logits = model(images)
            probs = torch.sigmoid(logits)
            loss = 1 - (2 * (probs * masks).sum() + 1) / (probs.sum() + masks.sum() + 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        """),
    ("r2-mem003-gru-while-loop", "PT-MEM003", """
        import torch

        h = torch.zeros(1, 32, 256)
        step = 0
        while step < 10000:
            x, y = next(stream)
            out, h = gru(x, h)
            loss = torch.nn.functional.mse_loss(head(out), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        """, """
        import torch

        h = torch.zeros(1, 32, 256)
        step = 0
        while step < 10000:
            x, y = next(stream)
            out, h = gru(x, h.detach())
            loss = torch.nn.functional.mse_loss(head(out), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        """),
    ("r2-grad008-data-mul-in-forward", "PT-GRAD008", """
        import torch.nn as nn

        class ScaledEmbedding(nn.Module):
            def __init__(self, n, d):
                super().__init__()
                self.emb = nn.Embedding(n, d)
                self.scale = d ** 0.5

            def forward(self, ids):
                x = self.emb(ids)
                x.data.mul_(self.scale)
                return x
        """, """
        import torch.nn as nn

        class ScaledEmbedding(nn.Module):
            def __init__(self, n, d):
                super().__init__()
                self.emb = nn.Embedding(n, d)
                self.scale = d ** 0.5

            def forward(self, ids):
                x = self.emb(ids)
                return x * self.scale
        """),
    ("r2-num003-log-softmax-no-dim", "PT-NUM003", """
        import torch.nn.functional as F

        def sequence_nll(logits, targets):
            logp = F.log_softmax(logits)
            return F.nll_loss(logp.view(-1, logp.size(-1)), targets.view(-1))
        """, """
        import torch.nn.functional as F

        def sequence_nll(logits, targets):
            logp = F.log_softmax(logits, dim=-1)
            return F.nll_loss(logp.view(-1, logp.size(-1)), targets.view(-1))
        """),
    ("r2-io009-from-checkpoint-classmethod", "PT-IO009", """
        import torch
        import torch.nn as nn

        class Classifier(nn.Module):
            def __init__(self, n_classes):
                super().__init__()
                self.fc = nn.Linear(512, n_classes)

            @classmethod
            def from_checkpoint(cls, path):
                blob = torch.load(path, map_location="cpu", weights_only=False)
                model = cls(blob["n_classes"])
                model.load_state_dict(blob["state_dict"])
                return model
        """, """
        import torch
        import torch.nn as nn

        class Classifier(nn.Module):
            def __init__(self, n_classes):
                super().__init__()
                self.fc = nn.Linear(512, n_classes)

            @classmethod
            def from_checkpoint(cls, path):
                blob = torch.load(path, map_location="cpu", weights_only=True)
                model = cls(blob["n_classes"])
                model.load_state_dict(blob["state_dict"])
                return model
        """),
]


@pytest.mark.parametrize(("rule", "buggy", "fixed"), [p[1:] for p in PROBES_ROUND2], ids=[p[0] for p in PROBES_ROUND2])
def test_blind_probe_round2(rule: str, buggy: str, fixed: str) -> None:
    test_blind_probe(rule, buggy, fixed)


# Round 3: written after the round-2 fixes, before running the reviewer on them.
PROBES_ROUND3: list[tuple[str, str, str, str]] = [
    ("r3-opt005-clip-after-step-in-method", "PT-OPT005", """
        import torch

        class Learner:
            def __init__(self, net, lr=1e-3):
                self.net = net
                self.opt = torch.optim.Adam(net.parameters(), lr=lr)

            def update(self, loss):
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), 0.5)

            def fit(self, loader):
                for x, y in loader:
                    self.update(torch.nn.functional.mse_loss(self.net(x), y))
        """, """
        import torch

        class Learner:
            def __init__(self, net, lr=1e-3):
                self.net = net
                self.opt = torch.optim.Adam(net.parameters(), lr=lr)

            def update(self, loss):
                self.opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), 0.5)
                self.opt.step()

            def fit(self, loader):
                for x, y in loader:
                    self.update(torch.nn.functional.mse_loss(self.net(x), y))
        """),
    ("r3-data007-nested-worker-init", "PT-DATA007", """
        import random
        from torch.utils.data import DataLoader

        def build_loader(ds, workers=4):
            def init_fn(worker_id):
                random.seed(worker_id)
            return DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers, worker_init_fn=init_fn)
        """, """
        import random
        from torch.utils.data import DataLoader

        def init_fn(worker_id):
            random.seed(worker_id)

        def build_loader(ds, workers=4):
            return DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers, worker_init_fn=init_fn)
        """),
    ("r3-amp006-half-finetune-sgd", "PT-AMP006", """
        import torch

        def finetune(model, loader, device="cuda"):
            model = model.to(device).half()
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x.to(device).half()), y.to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
        """, """
        import torch

        def finetune(model, loader, device="cuda"):
            model = model.to(device)
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            for x, y in loader:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
        """),
    ("r3-loss004-logits-nllloss-module", "PT-LOSS004", """
        import torch
        import torch.nn as nn

        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        crit = nn.NLLLoss()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for epoch in range(5):
            for x, y in train_loader:
                opt.zero_grad()
                loss = crit(net(x), y)
                loss.backward()
                opt.step()
        """, """
        import torch
        import torch.nn as nn

        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10), nn.LogSoftmax(dim=1))
        crit = nn.NLLLoss()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for epoch in range(5):
            for x, y in train_loader:
                opt.zero_grad()
                loss = crit(net(x), y)
                loss.backward()
                opt.step()
        """),
    ("r3-io006-start-from-checkpoint-step", "PT-IO006", """
        import torch

        state = torch.load("run/last.pt", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["epoch"]
        for epoch in range(start, 90):
            run_epoch(model, opt, epoch)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, "run/last.pt")
        """, """
        import torch

        state = torch.load("run/last.pt", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["epoch"] + 1
        for epoch in range(start, 90):
            run_epoch(model, opt, epoch)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, "run/last.pt")
        """),
    ("r3-mod004-mask-in-attention", "PT-MOD004", """
        import torch
        import torch.nn as nn

        class CausalSelfAttention(nn.Module):
            def __init__(self, d, n_head, block):
                super().__init__()
                self.attn = nn.MultiheadAttention(d, n_head, batch_first=True)
                self.mask = torch.triu(torch.ones(block, block, dtype=torch.bool), diagonal=1)

            def forward(self, x):
                t = x.size(1)
                return self.attn(x, x, x, attn_mask=self.mask[:t, :t])[0]
        """, """
        import torch
        import torch.nn as nn

        class CausalSelfAttention(nn.Module):
            def __init__(self, d, n_head, block):
                super().__init__()
                self.attn = nn.MultiheadAttention(d, n_head, batch_first=True)
                self.register_buffer("mask", torch.triu(torch.ones(block, block, dtype=torch.bool), diagonal=1), persistent=False)

            def forward(self, x):
                t = x.size(1)
                return self.attn(x, x, x, attn_mask=self.mask[:t, :t])[0]
        """),
]


@pytest.mark.parametrize(("rule", "buggy", "fixed"), [p[1:] for p in PROBES_ROUND3], ids=[p[0] for p in PROBES_ROUND3])
def test_blind_probe_round3(rule: str, buggy: str, fixed: str) -> None:
    test_blind_probe(rule, buggy, fixed)
