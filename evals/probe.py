"""The harness's own probe: runs a submitted script with hooks in torch and writes what really happened.

    python -m evals.probe TRACE.json SCRIPT.py [ARGS...]
    python -I -m evals.probe [--events-fd N] --plan PLAN.json

The submission's printed numbers are never read. The probe records, from inside torch:
- every `Tensor.backward()` call: the loss value, and whether the optimizers' gradients were cleared
  since the previous `optimizer.step()` (gradients accumulating across steps);
- every top-level module forward: whether its dropout / batch-norm layers were in training mode, and
  whether grad mode was on;
- `optimizer.step()` / `zero_grad()` counts.
The trace is written when the script ends (normally, by exception or by sys.exit). With --events-fd (the eval
harness), nothing is written to files: each run's trace goes to the trusted parent over that pipe the moment the
run ends, and integrity violations (reference_impls.integrity's audit hook, installed before the submission's first line)
as they happen; the pipe is moved to a high descriptor first. There is no secret in this process for a
submission to steal; a second trace for the same run (a forgery attempt) makes the parent refuse the run.
After the last run the process leaves at once (os._exit): no atexit handler of the submission runs.
"""

from __future__ import annotations

import json
import os
import runpy
import secrets
import sys
import traceback
import weakref


def main(argv: list[str]) -> int:
    """`probe TRACE.json SCRIPT.py ARGS...` runs once; `probe --plan PLAN.json` runs a list of runs.

    A plan is a JSON list of {"trace": path, "script": path, "args": [...], "cwd": path}; the runs
    execute one after another in this process (torch is imported once), each with fresh script
    globals and its own trace.
    """
    events_fd = None
    if argv[:1] == ["--events-fd"] and len(argv) > 1:
        events_fd = os.dup2(int(argv[1]), 1000 + secrets.randbelow(8000), inheritable=False)
        os.close(int(argv[1]))
        argv = argv[2:]
        _not_dumpable()
    if argv[:1] == ["--plan"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as fh:
            runs = json.load(fh)
    elif len(argv) >= 2:
        runs = [{"trace": argv[0], "script": argv[1], "args": argv[2:], "cwd": os.getcwd()}]
    else:
        print("usage: python -m evals.probe TRACE.json SCRIPT.py [ARGS...] | [--events-fd N] --plan PLAN.json", file=sys.stderr)
        return 2
    send = None
    if events_fd is not None:
        def send(event: dict) -> None:
            data = (json.dumps(event) + "\n").encode()
            view = memoryview(data)
            while view:
                view = view[os.write(events_fd, view):]

    probe = Probe(send=send)  # imports torch, before the audit hook (its import-time introspection is not ours)
    if send is not None:
        from reference_impls.integrity import install_audit_hook

        roots = sorted({os.path.dirname(os.path.abspath(r["script"])) for r in runs})
        install_audit_hook(roots, lambda what: send({"event": "integrity", "what": what}))
    code = 0
    for index, run in enumerate(runs):
        code = probe.run(run["trace"], run["script"], run.get("args", []), run.get("cwd"), index=index)
    return code


def _not_dumpable() -> None:
    """No other process of the sandbox (a subprocess the submission starts, free of the audit hook) may ptrace
    this one or open its descriptors through /proc/PID/fd: the trace pipe stays this process's alone."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


class Probe:
    """Hooks installed once into torch; `run` executes a script and writes its trace."""

    max_forwards = 20_000

    def __init__(self, send=None) -> None:
        import torch

        self._send = send

        self.torch = torch
        self.optimizers: list = []
        self.reset()
        probe = self
        original_backward = torch.Tensor.backward

        def backward(tensor, *a, **kw):
            t = probe.trace
            t["backward_calls"] += 1
            probe.state["backward_since_step"] += 1
            if tensor.numel() == 1:
                t["losses"].append(float(tensor.detach().float().cpu().reshape(())))
            if probe.state["stepped"] and not probe.state["cleared_since_step"] and _grads_reached(probe.optimizers):
                t["backward_dirty"] += 1
            probe.state["stepped"] = False
            result = original_backward(tensor, *a, **kw)
            if _grads_reached(probe.optimizers):
                t["backward_reached_params"] += 1
            return result

        torch.Tensor.backward = backward  # type: ignore[method-assign]

        original_init = torch.optim.Optimizer.__init__

        def after_step(opt, args, kwargs):
            t = probe.trace
            t["steps"] += 1
            if len(t["backwards_per_step"]) < probe.max_forwards:
                t["backwards_per_step"].append(probe.state["backward_since_step"])
            probe.state["backward_since_step"] = 0
            probe.state["stepped"] = True
            probe.state["cleared_since_step"] = False
            if t["steps"] <= 3:
                probe._note_trained(opt)
            if probe.optimizers and opt is probe.optimizers[0] and len(t["lrs"]) < probe.max_forwards:
                lr = opt.param_groups[0].get("lr")
                t["lrs"].append(float(lr) if isinstance(lr, (int, float)) else None)

        def opt_init(opt, *a, **kw):
            original_init(opt, *a, **kw)
            probe.optimizers.append(opt)
            opt.register_step_post_hook(after_step)

        torch.optim.Optimizer.__init__ = opt_init  # type: ignore[method-assign]

        def counting(original):
            def zero_grad(obj, *a, **kw):
                probe.trace["zero_grads"] += 1
                if probe.state["backward_since_step"] and _grads_reached(probe.optimizers):
                    probe.trace["cleared_mid_step"] += 1
                    probe.state["backward_since_step"] = 0  # those backward() calls no longer count for the step
                probe.state["cleared_since_step"] = True
                return original(obj, *a, **kw)

            return zero_grad

        torch.optim.Optimizer.zero_grad = counting(torch.optim.Optimizer.zero_grad)  # type: ignore[method-assign]
        torch.nn.Module.zero_grad = counting(torch.nn.Module.zero_grad)  # type: ignore[method-assign]

        # Mode-dependent ops (dropout, batch norm) report the `training` flag they really ran with, whether
        # called by nn.Dropout / nn.BatchNorm modules or functionally (F.dropout(x, p, self.training)).
        import torch.nn.functional as F

        def mode_op(original, index: int, default: bool):
            def wrapper(*args, **kwargs):
                if probe.state["depth"] > 0:
                    training = kwargs["training"] if "training" in kwargs else (args[index] if len(args) > index else default)
                    probe.state["mode_ops"] += 1
                    probe.state["mode_training"] = probe.state["mode_training"] or bool(training)
                return original(*args, **kwargs)

            wrapper.__wrapped__ = original  # type: ignore[attr-defined]
            return wrapper

        for name, index, default in (("dropout", 2, True), ("dropout1d", 2, True), ("dropout2d", 2, True),
                                     ("dropout3d", 2, True), ("alpha_dropout", 2, False),
                                     ("feature_alpha_dropout", 2, False), ("batch_norm", 5, False)):
            if hasattr(F, name):
                setattr(F, name, mode_op(getattr(F, name), index, default))

        def pre_hook(module, inputs):
            if probe.state["depth"] == 0:
                probe.trace["forward_count"] += 1
                probe.state["mode_ops"], probe.state["mode_training"] = 0, False
                probe.state["top"] = module
                probe.state["grad"] = bool(torch.is_grad_enabled())
                probe._note_module(module)
            probe.state["depth"] += 1

        def post_hook(module, inputs, output):
            probe.state["depth"] = max(0, probe.state["depth"] - 1)
            if probe.state["depth"] == 0 and probe.state.get("top") is module:
                probe.state["top"] = None
                if len(probe.trace["forwards"]) >= probe.max_forwards:
                    return
                if probe.state["mode_ops"]:
                    training, has_mode = probe.state["mode_training"], True
                else:  # no dropout / batch norm ran: judge by the layers it holds, if any
                    layers = _mode_layers(module)
                    training = any(m.training for m in layers) if layers else bool(module.training)
                    has_mode = bool(layers)
                probe.trace["forwards"].append([bool(training), probe.state["grad"], has_mode])
                if not probe.state["grad"] and len(probe.trace["eval_sums"]) < probe.max_forwards:
                    first = output[0] if isinstance(output, (tuple, list)) and output else output
                    if isinstance(first, torch.Tensor) and first.is_floating_point():
                        # What evaluation computed: a checksum per eval forward (resume must reproduce them too,
                        # e.g. batch-norm running statistics, which training losses never show).
                        probe.trace["eval_sums"].append(float(first.detach().double().sum()))

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
            "forwards": [],  # [ran in training mode, grad enabled, mode-dependent] per top-level forward
            "forward_count": 0,
            "cleared_mid_step": 0,  # zero_grad() after a backward() and before the step: accumulated gradients thrown away
            "backwards_per_step": [],  # backward() calls that each optimizer step used
            "trained_modules": [],  # classes (module.qualname) of forwarded top-level modules whose parameters were stepped
            "trained_layers": [],  # layer classes (module.qualname) inside those modules
            "lrs": [],  # the first optimizer's learning rate (group 0) at each optimizer step
            "eval_sums": [],  # checksum of the output of each no-grad top-level forward
            "error": None,
            "exit_code": 0,
        }
        self.optimizers.clear()
        self.seen_modules: list = []  # weak references to top-level modules that ran a forward (the first few)
        self.state = {"depth": 0, "cleared_since_step": True, "stepped": False, "backward_since_step": 0,
                      "mode_ops": 0, "mode_training": False, "top": None, "grad": True}

    def _note_module(self, module) -> None:
        if len(self.seen_modules) < 32 and not any(ref() is module for ref in self.seen_modules):
            self.seen_modules.append(weakref.ref(module))

    def _note_trained(self, optimizer) -> None:
        """Which forwarded modules own the parameters this optimizer steps (checked at the first few steps)."""
        stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
        names = self.trace["trained_modules"]
        for ref in self.seen_modules:
            module = ref()
            if module is None:
                continue
            name = f"{type(module).__module__}.{type(module).__qualname__}"
            if name not in names and any(id(p) in stepped for p in module.parameters()):
                names.append(name)
                layers = self.trace["trained_layers"]
                for sub in module.modules():
                    layer = f"{type(sub).__module__}.{type(sub).__qualname__}"
                    if layer not in layers and len(layers) < 200:
                        layers.append(layer)

    def run(self, trace_path: str, script: str, args: list[str], cwd: str | None, index: int = 0) -> int:
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
        if self._send is not None:
            self._send({"event": "trace", "run": index, "trace": self.trace})
            return code
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


if __name__ == "__main__":
    exit_code = main(sys.argv[1:])
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the submission may have closed or broken them
            pass
    os._exit(exit_code if isinstance(exit_code, int) else 1)
