"""Silent-bug probes: one bug per snippet with its fixed twin.

Each probe asserts that its rule reports the bug and that the fixed twin gets no finding of that rule
(precision on the exact look-alike). Snippets are written in varied styles on purpose (scripts, trainer
classes, helpers), not copied from the rule's own fixtures.
"""

from __future__ import annotations

import textwrap

import pytest

from pytorch_patterns.skill.review import review_source

# ==================================================================================================
# rules-loop section: training-loop bookkeeping, modes, losses, resume, schedulers
# ==================================================================================================

LOOP_PROBES: list[tuple[str, str, str, str, str]] = [
    # (id, rule, buggy snippet, text to replace in it, replacement giving the fixed twin)
    (
        "unshuffled-train-loader",
        "PT-DATA004",
        """
        import torch
        from torch.utils.data import DataLoader

        def main(model, train_set, epochs=10):
            loader = DataLoader(train_set, batch_size=32, shuffle=False, num_workers=2)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(epochs):
                for xb, yb in loader:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(xb), yb).backward()
                    opt.step()
        """,
        "shuffle=False",
        "shuffle=True",
    ),
    (
        "eval-loader-drop-last",
        "PT-DATA005",
        """
        import torch
        from torch.utils.data import DataLoader

        @torch.no_grad()
        def evaluate(model, test_set):
            model.eval()
            test_loader = DataLoader(test_set, batch_size=100, drop_last=True)
            hits = 0
            for x, y in test_loader:
                hits += (model(x).argmax(-1) == y).sum().item()
            return hits / len(test_set)
        """,
        "batch_size=100, drop_last=True",
        "batch_size=100",
    ),
    (
        "accumulation-zero-based",
        "PT-OPT003",
        """
        import torch

        def train(model, loader, opt, k=8):
            model.train()
            for it, (x, y) in enumerate(loader):
                loss = torch.nn.functional.mse_loss(model(x), y) / k
                loss.backward()
                if it % k == 0:
                    opt.step()
                    opt.zero_grad()
        """,
        "if it % k == 0:",
        "if (it + 1) % k == 0 or it + 1 == len(loader):",
    ),
    (
        "accumulation-zero-grad-every-micro-batch",
        "PT-OPT003",
        """
        import torch

        def train(model, loader, opt, k=4):
            for it, (x, y) in enumerate(loader):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y) / k
                loss.backward()
                if (it + 1) % k == 0 or it + 1 == len(loader):
                    opt.step()
                    opt.zero_grad(set_to_none=True)  # the fixed twin keeps only this one
        """,
        "                opt.zero_grad()\n                loss =",
        "                loss =",
    ),
    (
        "scaler-step-then-step",
        "PT-OPT004",
        """
        import torch

        scaler = torch.amp.GradScaler("cuda")

        def step(model, opt, x, y):
            opt.zero_grad()
            with torch.autocast("cuda", dtype=torch.float16):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.step()

        def fit(model, opt, loader):
            for x, y in loader:
                step(model, opt, x, y)
        """,
        "            scaler.update()\n            opt.step()\n",
        "            scaler.update()\n",
    ),
    (
        "duplicated-step",
        "PT-OPT004",
        """
        import torch

        for epoch in range(5):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                train_loss += loss.item()
                optimizer.step()
        """,
        "                train_loss += loss.item()\n                optimizer.step()\n",
        "                train_loss += loss.item()\n",
    ),
    (
        "zero-grad-between-backward-and-step",
        "PT-OPT004",
        """
        import torch

        class Learner:
            def __init__(self, net):
                self.net = net
                self.opt = torch.optim.Adam(net.parameters(), 1e-3)

            def train(self, loader):
                for x, y in loader:
                    loss = torch.nn.functional.l1_loss(self.net(x), y)
                    loss.backward()
                    self.opt.zero_grad()
                    self.opt.step()
        """,
        "                    loss.backward()\n                    self.opt.zero_grad()\n                    self.opt.step()",
        "                    self.opt.zero_grad()\n                    loss.backward()\n                    self.opt.step()",
    ),
    (
        "step-without-backward",
        "PT-OPT004",
        """
        import torch

        def train(model, loader, optimizer):
            model.train()
            for x, y in loader:
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.step()
        """,
        "                optimizer.step()",
        "                loss.backward()\n                optimizer.step()",
    ),
    (
        "clip-before-backward",
        "PT-OPT005",
        """
        import torch

        def train(model, loader, optimizer):
            for x, y in loader:
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                loss.backward()
                optimizer.step()
        """,
        "                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n                loss.backward()\n",
        "                loss.backward()\n                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n",
    ),
    (
        "clip-after-step",
        "PT-OPT005",
        """
        import torch
        from torch.nn.utils import clip_grad_value_

        def train(model, loader, optimizer):
            for x, y in loader:
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                optimizer.step()
                clip_grad_value_(model.parameters(), 0.5)
        """,
        "                optimizer.step()\n                clip_grad_value_(model.parameters(), 0.5)\n",
        "                clip_grad_value_(model.parameters(), 0.5)\n                optimizer.step()\n",
    ),
    (
        "scaler-without-update",
        "PT-AMP004",
        """
        import torch

        def train(model, loader, optimizer, epochs):
            scaler = torch.amp.GradScaler("cuda")
            for _ in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    with torch.autocast("cuda", dtype=torch.float16):
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
        """,
        "                    scaler.step(optimizer)\n",
        "                    scaler.step(optimizer)\n                    scaler.update()\n",
    ),
    (
        "mode-as-flag",
        "PT-MODE004",
        """
        import torch
        import torchvision

        def epoch_pass(net, loader, opt, training):
            with torch.set_grad_enabled(training):
                for x, y in loader:
                    loss = torch.nn.functional.cross_entropy(net(x), y)
                    if training:
                        opt.zero_grad()
                        loss.backward()
                        opt.step()

        net = torchvision.models.resnet18(num_classes=10)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for epoch in range(3):
            epoch_pass(net, train_loader, opt, training=True)
            epoch_pass(net, val_loader, opt, training=False)
        """,
        "            with torch.set_grad_enabled(training):",
        "            net.train(training)\n            with torch.set_grad_enabled(training):",
    ),
    (
        "relu-into-cross-entropy",
        "PT-LOSS003",
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Head(nn.Module):
            def __init__(self, d, n):
                super().__init__()
                self.fc = nn.Linear(d, n)

            def forward(self, h):
                return F.relu(self.fc(h))

        head = Head(128, 10)

        def loss_fn(h, y):
            return F.cross_entropy(head(h), y)
        """,
        "return F.relu(self.fc(h))",
        "return self.fc(F.relu(h))",
    ),
    (
        "sigmoid-into-bce-with-logits",
        "PT-LOSS003",
        """
        import torch
        import torch.nn as nn

        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
        criterion = nn.BCEWithLogitsLoss()

        def step(x, y, opt):
            opt.zero_grad()
            loss = criterion(model(x).squeeze(1), y.float())
            loss.backward()
            opt.step()
        """,
        "nn.Linear(32, 1), nn.Sigmoid())",
        "nn.Linear(32, 1))",
    ),
    (
        "logits-into-nll",
        "PT-LOSS004",
        """
        import torch.nn as nn
        import torch.nn.functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU())
                self.out = nn.Linear(256, 10)

            def forward(self, x):
                return self.out(self.body(x))

        net = Net()

        def compute_loss(x, y):
            return F.nll_loss(net(x), y)
        """,
        "F.nll_loss(net(x), y)",
        "F.nll_loss(F.log_softmax(net(x), dim=1), y)",
    ),
    (
        "resume-without-scheduler",
        "PT-IO005",
        """
        import torch

        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
        start = 0
        if args.resume:
            ck = torch.load(args.resume, map_location="cpu", weights_only=True)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            start = ck["epoch"] + 1
        for epoch in range(start, args.epochs):
            train_one_epoch(model, opt)
            sched.step()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "epoch": epoch}, "ck.pt")
        """,
        '            start = ck["epoch"] + 1\n',
        '            sched.load_state_dict(ck["sched"])\n            start = ck["epoch"] + 1\n',
    ),
    (
        "resume-reruns-epoch",
        "PT-IO006",
        """
        import torch

        def run(model, opt, loader, epochs, ckpt=None):
            first = 0
            if ckpt:
                state = torch.load(ckpt, weights_only=True)
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["opt"])
                first = state["epoch"]
            for ep in range(first, epochs):
                for x, y in loader:
                    opt.zero_grad()
                    torch.nn.functional.mse_loss(model(x), y).backward()
                    opt.step()
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": ep}, "last.pt")
        """,
        'first = state["epoch"]',
        'first = state["epoch"] + 1',
    ),
    (
        "optimizer-before-head-replaced",
        "PT-OPT006",
        """
        import torch
        import torch.nn as nn
        from torchvision import models

        net = models.efficientnet_b0(weights="DEFAULT")
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        net.classifier = nn.Linear(1280, 5)
        """,
        "opt = torch.optim.AdamW(net.parameters(), lr=1e-4)\n        net.classifier = nn.Linear(1280, 5)",
        "net.classifier = nn.Linear(1280, 5)\n        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)",
    ),
    (
        "multisteplr-per-batch",
        "PT-OPT007",
        """
        import torch

        def fit(model, loader, epochs=90):
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[30, 60], gamma=0.1)
            for epoch in range(epochs):
                for x, y in loader:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    opt.step()
                    sched.step()
        """,
        "                    opt.step()\n                    sched.step()\n",
        "                    opt.step()\n                sched.step()\n",
    ),
    (
        "lr-decayed-by-hand",
        "PT-OPT008",
        """
        import torch

        def main(model, loader, epochs):
            learning_rate = 0.01
            opt = torch.optim.SGD(model.parameters(), lr=learning_rate)
            for epoch in range(epochs):
                for x, y in loader:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    opt.step()
                learning_rate *= 0.95
        """,
        "                learning_rate *= 0.95\n",
        "                learning_rate *= 0.95\n                for g in opt.param_groups:\n                    g['lr'] = learning_rate\n",
    ),
]


def _twin(snippet: str, old: str, new: str) -> str:
    """The fixed twin: `old` replaced by `new` in the snippet as written (before dedenting)."""
    assert old in snippet, f"probe twin does not apply: {old!r}"
    return textwrap.dedent(snippet.replace(old, new, 1))


@pytest.mark.parametrize(("rule", "bug", "old", "new"), [p[1:] for p in LOOP_PROBES], ids=[p[0] for p in LOOP_PROBES])
def test_loop_probe_reported_and_twin_clean(rule: str, bug: str, old: str, new: str) -> None:
    code = textwrap.dedent(bug)
    fixed = _twin(bug, old, new)
    found = [f for f in review_source(code, "probe.py", select=[rule]) if f.rule == rule]
    assert found, f"{rule} missed the bug:\n{code}"
    on_twin = [f for f in review_source(fixed, "probe_fixed.py", select=[rule]) if f.rule == rule]
    assert not on_twin, f"{rule} fired on the fixed twin:\n{fixed}\n{on_twin}"


# ==================================================================================================
# end of the rules-loop section (other sections go below)
# ==================================================================================================
