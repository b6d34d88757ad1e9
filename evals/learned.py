"""The harness's evidence that a model learned: a child that maps hidden inputs to outputs with saved weights.

    python -I -c "...; from pytorch_patterns.evals.learned import main; main()"   (the job comes as one JSON line on stdin)

It runs after the submission's own runs have ended, in a sandboxed child of its own. In this order it:
1. draws hidden inputs from the seed the harness sends (the seed is never written to disk and the submission's
   runs never saw it), computes their targets with the task's teacher and prints them (`targets` event) BEFORE
   any submission code is imported: what the submission's code does later cannot change them;
2. finds the harness's `go` file in its own private workspace (copies of the runs' checkpoints beside it), then imports the submission's module that defines the model (the task names it), builds the model with the
   task's constructor arguments, loads the weights the submission saved at the end of its full run and of its
   half run, and fresh untrained copies of the same class under seeds of the harness;
3. prints the outputs of each on the hidden inputs (`outputs` event), and how far the weights moved.

The harness computes the metric in its own process: the trained model must beat fresh copies of the same class
(a forward that ignores its weights cannot), and the weights must have moved between the half and full runs.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import sys
import time
from pathlib import Path

PREFIX = "@@pp-learned "
STATE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar")


def _emit(event: str, **data) -> None:
    sys.stdout.write(PREFIX + json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def hidden_data(job: dict):
    """Inputs from the harness's seed; labels from the task's fixed linear teacher (the training distribution)."""
    import torch

    data = job["data"]
    n, features, classes = int(data.get("n", 512)), int(data["features"]), int(data["classes"])
    teacher = torch.Generator().manual_seed(int(data["teacher_seed"]))
    w = torch.randn(features, classes, generator=teacher)
    g = torch.Generator().manual_seed(int(job["seed"]))
    x = torch.randn(n, features, generator=g)
    return x, (x @ w).argmax(dim=1)


def _state_dicts(folder: Path) -> list[dict]:
    """Every mapping of names to tensors found in the checkpoint files of `folder` (top level or one level down)."""
    import torch

    found = []
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in STATE_SUFFIXES)[:8]
    for path in files:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 -- not a weights file
            continue
        for cand in [obj, *(obj.values() if isinstance(obj, dict) else [])]:
            if isinstance(cand, dict) and cand and all(isinstance(v, torch.Tensor) for v in cand.values()):
                found.append(cand)
    return found


def _constructor_kwargs(cls, init: list, state: dict):
    """Keyword arguments to try: none (the task's constructor call), then integer keyword defaults (a hidden size)
    set to sizes found in the saved weights, one or two at a time. Fresh copies are built the same way, so the
    comparison is always against the submission's own architecture."""
    yield {}
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return
    params = [p.name for p in list(sig.parameters.values())[1 + len(init):]
              if isinstance(p.default, int) and not isinstance(p.default, bool)][:3]
    dims = sorted({d for v in state.values() for d in v.shape})[:12]
    for name in params:
        for d in dims:
            yield {name: d}
    for a, b in itertools.combinations(params, 2):
        for da in dims:
            for db in dims:
                yield {a: da, b: db}


def _load_trained(cls, init: list, folder: Path):
    for state in _state_dicts(folder):
        for kwargs in _constructor_kwargs(cls, init, state):
            try:
                model = cls(*init, **kwargs)
                model.load_state_dict(state, strict=True)
            except Exception:  # noqa: BLE001 -- not this architecture
                continue
            return model, kwargs
    return None, {}


def _outputs(model, x) -> list[list[float]] | None:
    import torch

    model.eval()
    with torch.no_grad():
        out = model(x)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.shape[0] != x.shape[0]:
        return None
    return [[round(float(v), 6) for v in row] for row in out.detach().float().reshape(x.shape[0], -1).tolist()]


def main() -> int:
    job = json.loads(sys.stdin.readline())
    import torch

    torch.set_num_threads(1)
    x, y = hidden_data(job)
    _emit("targets", targets=[int(v) for v in y.tolist()])
    del job["seed"]
    go = Path(job["go"])  # written by the harness once the submission's runs have ended
    while not go.exists():
        time.sleep(0.02)
    if not json.loads(go.read_text() or "{}").get("go"):
        return 0

    module_path = Path(job["module"])
    sys.path.insert(0, str(module_path.parent))
    spec = importlib.util.spec_from_file_location("pp_submission_model", module_path)
    if spec is None or spec.loader is None:
        _emit("error", error=f"cannot import {module_path.name}")
        return 1
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        cls = getattr(module, job["model"])
    except Exception as exc:  # noqa: BLE001 -- reported to the harness as the check's reason
        _emit("error", error=f"{module_path.name}: {exc.__class__.__name__}: {exc}")
        return 1
    init = list(job.get("init", []))
    result: dict = {"fresh": []}
    states = {}
    arch: dict = {}
    for tag, folder in job["checkpoints"].items():
        try:
            model, kwargs = _load_trained(cls, init, Path(folder))
        except Exception as exc:  # noqa: BLE001
            _emit("error", error=f"{job['model']}({', '.join(map(str, init))}): {exc.__class__.__name__}: {exc}")
            return 1
        if tag == "full" or not arch:
            arch = kwargs
        if model is None:
            result[tag] = None
            continue
        states[tag] = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        result[tag] = _outputs(model, x)
    for seed in job.get("fresh_seeds", [101, 202, 303]):
        torch.manual_seed(int(seed))
        result["fresh"].append(_outputs(cls(*init, **arch), x))
    result["kwargs"] = arch
    if "full" in states and "half" in states:
        num = sum(float((states["full"][k] - states["half"][k]).double().pow(2).sum()) for k in states["full"])
        den = sum(float(v.double().pow(2).sum()) for v in states["half"].values()) or 1.0
        result["moved"] = (num / den) ** 0.5
    _emit("outputs", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
