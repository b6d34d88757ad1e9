"""The harness's own probe: runs a submitted script with hooks in torch and writes what really happened.

    python -m evals.probe TRACE.json SCRIPT.py [ARGS...]

The submission's printed numbers are never read. The probe records, from inside torch:
- every `Tensor.backward()` call: the loss value, and whether the optimizers' gradients were cleared
  since the previous `optimizer.step()` (gradients accumulating across steps);
- every top-level module forward: whether its dropout / batch-norm layers were in training mode, and
  whether grad mode was on;
- `optimizer.step()` / `zero_grad()` counts.
The trace is written when the script ends (normally, by exception or by sys.exit).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback


def main(argv: list[str]) -> int:
    """`probe TRACE.json SCRIPT.py ARGS...` runs once; `probe --plan PLAN.json` runs a list of runs.

    A plan is a JSON list of {"trace": path, "script": path, "args": [...], "cwd": path}; the runs
    execute one after another in this process (torch is imported once), each with fresh script
    globals and its own trace.
    """
    if argv[:1] == ["--plan"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as fh:
            runs = json.load(fh)
    elif len(argv) >= 2:
        runs = [{"trace": argv[0], "script": argv[1], "args": argv[2:], "cwd": os.getcwd()}]
    else:
        print("usage: python -m evals.probe TRACE.json SCRIPT.py [ARGS...] | --plan PLAN.json", file=sys.stderr)
        return 2
    probe = Probe()
    code = 0
    for run in runs:
        code = probe.run(run["trace"], run["script"], run.get("args", []), run.get("cwd"))
    return code


class Probe:
    """Hooks installed once into torch; `run` executes a script and writes its trace."""

    max_forwards = 20_000

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.optimizers: list = []
        self.reset()
        probe = self
        original_backward = torch.Tensor.backward

        def backward(tensor, *a, **kw):
            t = probe.trace
            t["backward_calls"] += 1
            if tensor.numel() == 1:
                t["losses"].append(float(tensor.detach().float().cpu().reshape(())))
            if probe.state["stepped"] and not probe.state["cleared_since_step"] and not _grads_clear(probe.optimizers):
                t["backward_dirty"] += 1
            probe.state["stepped"] = False
            result = original_backward(tensor, *a, **kw)
            if _grads_reached(probe.optimizers):
                t["backward_reached_params"] += 1
            return result

        torch.Tensor.backward = backward  # type: ignore[method-assign]

        original_init = torch.optim.Optimizer.__init__

        def after_step(opt, args, kwargs):
            probe.trace["steps"] += 1
            probe.state["stepped"] = True
            probe.state["cleared_since_step"] = False

        def opt_init(opt, *a, **kw):
            original_init(opt, *a, **kw)
            probe.optimizers.append(opt)
            opt.register_step_post_hook(after_step)

        torch.optim.Optimizer.__init__ = opt_init  # type: ignore[method-assign]

        def counting(original):
            def zero_grad(obj, *a, **kw):
                probe.trace["zero_grads"] += 1
                probe.state["cleared_since_step"] = True
                return original(obj, *a, **kw)

            return zero_grad

        torch.optim.Optimizer.zero_grad = counting(torch.optim.Optimizer.zero_grad)  # type: ignore[method-assign]
        torch.nn.Module.zero_grad = counting(torch.nn.Module.zero_grad)  # type: ignore[method-assign]

        def pre_hook(module, inputs):
            if probe.state["depth"] == 0:
                probe.trace["forward_count"] += 1
                if len(probe.trace["forwards"]) < probe.max_forwards:
                    layers = _mode_layers(module)
                    training = any(m.training for m in layers) if layers else bool(module.training)
                    probe.trace["forwards"].append([training, bool(torch.is_grad_enabled()), bool(layers)])
            probe.state["depth"] += 1

        def post_hook(module, inputs, output):
            probe.state["depth"] = max(0, probe.state["depth"] - 1)

        torch.nn.modules.module.register_module_forward_pre_hook(pre_hook)
        torch.nn.modules.module.register_module_forward_hook(post_hook, always_call=True)

    def reset(self) -> None:
        self.trace: dict = {
            "losses": [],  # one per backward() on a scalar
            "backward_calls": 0,
            "backward_dirty": 0,  # backward() after a step with grads not cleared since that step
            "backward_reached_params": 0,  # backward() calls after which some optimizer parameter has a non-zero grad
            "steps": 0,
            "zero_grads": 0,
            "forwards": [],  # [mode layers training, grad enabled, has mode layers] per top-level forward
            "forward_count": 0,
            "error": None,
            "exit_code": 0,
        }
        self.optimizers.clear()
        self.state = {"depth": 0, "cleared_since_step": True, "stepped": False}

    def run(self, trace_path: str, script: str, args: list[str], cwd: str | None) -> int:
        self.reset()
        script_dir = os.path.dirname(os.path.abspath(script))
        before = set(sys.modules)
        old_cwd, old_path = os.getcwd(), list(sys.path)
        if cwd:
            os.chdir(cwd)
        sys.argv = [script, *args]
        sys.path.insert(0, script_dir)
        code = 0
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:  # noqa: BLE001 -- the trace records any failure of the submission
            self.trace["error"] = f"{exc.__class__.__name__}: {exc}"
            traceback.print_exc()
            code = 1
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path
            for name in set(sys.modules) - before:  # the submission's own modules start fresh next run
                mod = sys.modules.get(name)
                if getattr(mod, "__file__", None) and os.path.abspath(mod.__file__).startswith(script_dir):
                    del sys.modules[name]
        self.trace["exit_code"] = code
        with open(trace_path, "w", encoding="utf-8") as fh:
            json.dump(self.trace, fh)
        return code


_MODE_LAYERS: dict[int, list] = {}


def _mode_layers(module) -> list:
    """The submodules that behave differently in train and eval mode (dropout, batch norm).

    The verdict uses these, not the top module's own flag: `model.training = False` alone leaves
    every Dropout active.
    """
    import torch.nn as nn

    key = id(module)
    cached = _MODE_LAYERS.get(key)
    if cached is None:
        kinds = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
        cached = [m for m in module.modules() if isinstance(m, kinds)]
        if len(_MODE_LAYERS) < 10_000:
            _MODE_LAYERS[key] = cached
    return cached


def _grads_reached(optimizers) -> bool:
    """Some parameter of an optimizer has a non-zero gradient (a loss cut from the graph leaves none)."""
    for opt in optimizers:
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None and bool(p.grad.any()):
                    return True
    return False


def _grads_clear(optimizers) -> bool:
    for opt in optimizers:
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None and bool(p.grad.any()):
                    return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
