"""Silent-bug probes for the device/module/checkpoint/data/memory/repro/amp/perf/api/autograd rules.

Each probe is one bug in a short, realistic snippet written differently from the rule fixtures, plus its
fixed twin: the rule must report the bug and must stay silent on the twin (issue 11: >= 90% reported,
0 findings of the same kind on the fixed twins).
"""

from __future__ import annotations

import textwrap

import pytest

from pytorch_patterns.skill.review import review_source

PROBES: list[tuple[str, str, str, str]] = [
    # (id, rule, buggy, fixed)
    ("dev005-batch-dict", "PT-DEV005", """
        def train(model, loader, opt, device):
            model.to(device)
            for batch in loader:
                for k in ("input_ids", "labels"):
                    batch[k].to(device)
                loss = model(**batch).loss
                opt.zero_grad(); loss.backward(); opt.step()
        """, """
        def train(model, loader, opt, device):
            model.to(device)
            for batch in loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                loss = model(**batch).loss
                opt.zero_grad(); loss.backward(); opt.step()
        """),
    ("dev005-tensor-cuda", "PT-DEV005", """
        import torch
        def make_targets(n):
            t = torch.zeros(n, dtype=torch.long)
            t.cuda()
            return t
        """, """
        import torch
        def make_targets(n):
            t = torch.zeros(n, dtype=torch.long)
            t = t.cuda()
            return t
        """),
    ("mod004-anchor", "PT-MOD004", """
        import torch
        import torch.nn as nn
        class AnchorHead(nn.Module):
            def __init__(self, anchors):
                super().__init__()
                self.anchors = torch.tensor(anchors, dtype=torch.float32)
                self.conv = nn.Conv2d(256, len(anchors) * 4, 1)
            def forward(self, feats):
                return self.conv(feats) * self.anchors.view(1, -1, 1, 1).repeat(1, 4, 1, 1)
        """, """
        import torch
        import torch.nn as nn
        class AnchorHead(nn.Module):
            def __init__(self, anchors):
                super().__init__()
                self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32))
                self.conv = nn.Conv2d(256, len(anchors) * 4, 1)
            def forward(self, feats):
                return self.conv(feats) * self.anchors.view(1, -1, 1, 1).repeat(1, 4, 1, 1)
        """),
    ("io007-dataparallel", "PT-IO007", """
        import torch
        import torch.nn as nn
        net = nn.DataParallel(build_net()).cuda()
        train(net)
        torch.save(net.state_dict(), "best.pth")
        """, """
        import torch
        import torch.nn as nn
        net = nn.DataParallel(build_net()).cuda()
        train(net)
        torch.save(net.module.state_dict(), "best.pth")
        """),
    ("io008-backbone", "PT-IO008", """
        import torch
        def load_backbone(model, path):
            sd = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
            model.backbone.load_state_dict(sd, strict=False)
            return model
        """, """
        import torch
        def load_backbone(model, path):
            sd = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
            missing, unexpected = model.backbone.load_state_dict(sd, strict=False)
            if missing or unexpected:
                raise RuntimeError(f"backbone mismatch: {missing} {unexpected}")
            return model
        """),
    ("io009-explicit-false", "PT-IO009", """
        import torch
        def resume(path):
            return torch.load(path, weights_only=False)["optimizer"]
        """, """
        import torch
        def resume(path):
            return torch.load(path, weights_only=True)["optimizer"]
        """),
    ("data006-set-epoch", "PT-DATA006", """
        from torch.utils.data import DataLoader, DistributedSampler
        def run(model, ds, epochs, step):
            sampler = DistributedSampler(ds, shuffle=True)
            dl = DataLoader(ds, batch_size=32, sampler=sampler, num_workers=2)
            for ep in range(epochs):
                for batch in dl:
                    step(model, batch)
        """, """
        from torch.utils.data import DataLoader, DistributedSampler
        def run(model, ds, epochs, step):
            sampler = DistributedSampler(ds, shuffle=True)
            dl = DataLoader(ds, batch_size=32, sampler=sampler, num_workers=2)
            for ep in range(epochs):
                sampler.set_epoch(ep)
                for batch in dl:
                    step(model, batch)
        """),
    ("data007-worker-init-lambda", "PT-DATA007", """
        import numpy as np
        from torch.utils.data import DataLoader
        loader = DataLoader(ds, batch_size=16, num_workers=4,
                            worker_init_fn=lambda wid: np.random.seed(1234 + wid))
        """, """
        import numpy as np
        from torch.utils.data import DataLoader
        def init_worker(wid):
            np.random.seed(1234 + wid)
        loader = DataLoader(ds, batch_size=16, num_workers=4, worker_init_fn=init_worker)
        """),
    ("data008-open-file", "PT-DATA008", """
        from torch.utils.data import Dataset
        class Shards(Dataset):
            def __init__(self, path, offsets):
                self.fh = open(path, "rb")
                self.offsets = offsets
            def __len__(self):
                return len(self.offsets) - 1
            def __getitem__(self, i):
                self.fh.seek(self.offsets[i])
                return self.fh.read(self.offsets[i + 1] - self.offsets[i])
        """, """
        from torch.utils.data import Dataset
        class Shards(Dataset):
            def __init__(self, path, offsets):
                self.path, self.fh = path, None
                self.offsets = offsets
            def __len__(self):
                return len(self.offsets) - 1
            def __getitem__(self, i):
                if self.fh is None:
                    self.fh = open(self.path, "rb")
                self.fh.seek(self.offsets[i])
                return self.fh.read(self.offsets[i + 1] - self.offsets[i])
        """),
    ("mem003-lstm-tuple", "PT-MEM003", """
        import torch
        def train(lstm, head, loader, opt, bsz, nhid):
            h, c = torch.zeros(1, bsz, nhid), torch.zeros(1, bsz, nhid)
            for x, y in loader:
                out, (h, c) = lstm(x, (h, c))
                loss = torch.nn.functional.cross_entropy(head(out[-1]), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """, """
        import torch
        def train(lstm, head, loader, opt, bsz, nhid):
            h, c = torch.zeros(1, bsz, nhid), torch.zeros(1, bsz, nhid)
            for x, y in loader:
                h, c = h.detach(), c.detach()
                out, (h, c) = lstm(x, (h, c))
                loss = torch.nn.functional.cross_entropy(head(out[-1]), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """),
    ("mem004-retain", "PT-MEM004", """
        def fit(net, data, opt, crit):
            for inp, tgt in data:
                opt.zero_grad()
                crit(net(inp), tgt).backward(retain_graph=True)
                opt.step()
        """, """
        def fit(net, data, opt, crit):
            for inp, tgt in data:
                opt.zero_grad()
                crit(net(inp), tgt).backward()
                opt.step()
        """),
    ("rep006-seed-benchmark", "PT-REP006", """
        import torch
        import random
        random.seed(0)
        torch.manual_seed(0)
        torch.backends.cudnn.benchmark = True
        """, """
        import torch
        import random
        random.seed(0)
        torch.manual_seed(0)
        torch.backends.cudnn.benchmark = False
        """),
    ("rep007-seed-in-step", "PT-REP007", """
        import torch
        def train(model, loader, opt, seed):
            for epoch in range(10):
                for x, y in loader:
                    torch.manual_seed(seed)
                    out = model(torch.nn.functional.dropout(x, 0.2))
                    loss = torch.nn.functional.mse_loss(out, y)
                    opt.zero_grad(); loss.backward(); opt.step()
        """, """
        import torch
        def train(model, loader, opt, seed):
            torch.manual_seed(seed)
            for epoch in range(10):
                for x, y in loader:
                    out = model(torch.nn.functional.dropout(x, 0.2))
                    loss = torch.nn.functional.mse_loss(out, y)
                    opt.zero_grad(); loss.backward(); opt.step()
        """),
    ("amp005-loss-only", "PT-AMP005", """
        import torch
        def step(model, x, y, opt, scaler, crit):
            logits = model(x)
            with torch.autocast("cuda", dtype=torch.float16):
                loss = crit(logits, y)
            scaler.scale(loss).backward()
            scaler.step(opt); scaler.update(); opt.zero_grad()
        """, """
        import torch
        def step(model, x, y, opt, scaler, crit):
            with torch.autocast("cuda", dtype=torch.float16):
                logits = model(x)
                loss = crit(logits, y)
            scaler.scale(loss).backward()
            scaler.step(opt); scaler.update(); opt.zero_grad()
        """),
    ("amp006-half", "PT-AMP006", """
        import torch
        model = MyNet().cuda()
        model = model.half()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x.half()), y)
            opt.zero_grad(); loss.backward(); opt.step()
        """, """
        import torch
        model = MyNet().cuda()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        scaler = torch.amp.GradScaler("cuda")
        for x, y in loader:
            with torch.autocast("cuda", dtype=torch.float16):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(); scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
        """),
    ("amp007-bf16", "PT-AMP007", """
        import torch
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        """, """
        import torch
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
        """),
    ("perf003-compile-loop", "PT-PERF003", """
        import torch
        def train(model, loader, opt):
            for step, (x, y) in enumerate(loader):
                out = torch.compile(model)(x)
                loss = torch.nn.functional.mse_loss(out, y)
                opt.zero_grad(); loss.backward(); opt.step()
        """, """
        import torch
        def train(model, loader, opt):
            compiled = torch.compile(model)
            for step, (x, y) in enumerate(loader):
                out = compiled(x)
                loss = torch.nn.functional.mse_loss(out, y)
                opt.zero_grad(); loss.backward(); opt.step()
        """),
    ("perf004-no-sync", "PT-PERF004", """
        import time
        import torch
        def measure(model, x):
            x = x.cuda()
            begin = time.time()
            y = model(x)
            return time.time() - begin
        """, """
        import time
        import torch
        def measure(model, x):
            x = x.cuda()
            torch.cuda.synchronize()
            begin = time.time()
            y = model(x)
            torch.cuda.synchronize()
            return time.time() - begin
        """),
    ("num003-nn-softmax", "PT-NUM003", """
        import torch.nn as nn
        head = nn.Sequential(nn.Linear(128, 10), nn.Softmax())
        """, """
        import torch.nn as nn
        head = nn.Sequential(nn.Linear(128, 10), nn.Softmax(dim=1))
        """),
    ("num001-log-softmax", "PT-NUM001", """
        import torch
        def nll(logits, y):
            logp = torch.log(torch.softmax(logits, dim=-1))
            return -logp.gather(1, y[:, None]).mean()
        """, """
        import torch
        def nll(logits, y):
            logp = torch.log_softmax(logits, dim=-1)
            return -logp.gather(1, y[:, None]).mean()
        """),
    ("api002-tensor-of-tensor", "PT-API002", """
        import torch
        def smooth(labels, n, eps=0.1):
            onehot = torch.nn.functional.one_hot(labels, n).float()
            return torch.tensor(onehot * (1 - eps) + eps / n)
        """, """
        import torch
        def smooth(labels, n, eps=0.1):
            onehot = torch.nn.functional.one_hot(labels, n).float()
            return onehot * (1 - eps) + eps / n
        """),
    ("api003-mixed-tf32", "PT-API003", """
        import torch
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        torch.set_float32_matmul_precision("high")
        """, """
        import torch
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        """),
    ("grad008-data-add", "PT-GRAD008", """
        import torch.nn as nn
        class Skip(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.f = nn.Linear(d, d)
            def forward(self, x):
                y = self.f(x)
                y.data.add_(x)
                return y
        """, """
        import torch.nn as nn
        class Skip(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.f = nn.Linear(d, d)
            def forward(self, x):
                y = self.f(x)
                return y + x
        """),
    ("grad004-saved-norm-input", "PT-GRAD004", """
        import torch.nn as nn
        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.ln = nn.LayerNorm(d)
                self.ff = nn.Linear(d, d)
            def forward(self, x):
                x += self.ff(self.ln(x))
                return x
        """, """
        import torch.nn as nn
        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.ln = nn.LayerNorm(d)
                self.ff = nn.Linear(d, d)
            def forward(self, x):
                x = x + self.ff(self.ln(x))
                return x
        """),
]


@pytest.mark.parametrize(("rule", "buggy", "fixed"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_probe(rule: str, buggy: str, fixed: str) -> None:
    bug = review_source(textwrap.dedent(buggy), "probe.py", select=[rule])
    twin = review_source(textwrap.dedent(fixed), "probe_fixed.py", select=[rule])
    assert any(f.rule == rule for f in bug), f"{rule} missed the bug"
    assert not [f for f in twin if f.rule == rule], f"{rule} reported the fixed twin: {[(f.line, f.message) for f in twin]}"


@pytest.mark.parametrize(("target", "severity"), [(None, "low"), ("2.6", "low"), ("2.13", "low"), ("2.4", "high"), ("1.13", "high")])
def test_bare_torch_load_severity_follows_target_torch(target, severity) -> None:
    """PT-IO002: weights_only=True is the default from torch 2.6, so a bare torch.load is only high below it;
    an explicit weights_only=False (PT-IO009) is high whatever the target."""
    src = "import torch\nstate = torch.load(path)\nckpt = torch.load(path, weights_only=False)\n"
    findings = review_source(src, "load.py", select=["PT-IO002", "PT-IO009"], target_torch=target)
    got = {(f.rule, f.severity.value) for f in findings}
    assert got == {("PT-IO002", severity), ("PT-IO009", "high")}
