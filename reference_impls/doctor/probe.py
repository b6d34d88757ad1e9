"""The doctor's probe: runs the user's training script with hooks in torch and streams what really happened.

    PP_DOCTOR_CONFIG='{"events": DIR, "steps": N, ...}' python -m pytorch_patterns.reference_impls.doctor.probe SCRIPT [ARGS...]

Installed before the script's imports (torch is imported here first, then the script runs through `runpy`),
it records, from inside torch:
- every top-level module forward: the training flag its dropout / batch-norm ops really ran with, grad mode,
  whether its outputs reached a backward, an input fingerprint, the module's class and the user's call site;
- every backward: the loss, the optimizers whose parameters it reached (post-accumulate-grad hooks);
- `zero_grad` (optimizer or module) and `step` bookkeeping per optimizer: the backward window each step used,
  whether gradients were cleared since the previous step, the LR per group, the gradient norm, the
  update-to-weight ratio of a few sampled parameter tensors, which parameters ever received a gradient;
- `clip_grad_norm_` (norm, max norm, whether the gradients were still GradScaler-scaled), scheduler steps;
- DataLoader epochs: the sampler's index fingerprint of the first batches, the time spent waiting for each batch,
  label / feature column statistics of the first batches;
- non-finite losses, gradients and activations (with the module that produced the first one);
- host syncs from the user's code (`.item()`, `.cpu()`, `.tolist()`, `.numpy()`, printing tensors).

Events are JSON lines appended to `DIR/events.<rank>.jsonl` as they happen, flushed after every optimizer step
and at least every FLUSH_EVERY_S, so a crash or a kill still leaves evidence. After `steps` optimizer steps the script is stopped at its next forward, backward, batch
or step (a private BaseException), so the code after the last step (logging, checkpointing) still runs.
Each torchrun rank runs its own probe and stops at the same step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import runpy
import sys
import time
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
MAX_FORWARD_EVENTS = 4000  # per run: enough for the few steps the doctor runs, bounded for long eval loops
MAX_BATCH_EVENTS = 4000
STAT_BATCHES = 8  # batches per loader whose label / column statistics are collected
FP_BATCHES = 4  # batches per epoch whose sampler indices are fingerprinted
RATIO_TENSORS = 6  # parameter tensors per optimizer whose update-to-weight ratio is measured each step
RATIO_MIN_NUMEL = 64  # smaller tensors (biases, a 4-weight layer) have ratios too noisy to judge an LR by
RATIO_MAX_NUMEL = 1 << 22  # a copy per step of a 50M-entry embedding costs more than the step: take the next ones
RATIO_ALL_STEPS = 12  # update ratios measured at every one of the first steps, then every RATIO_EVERY-th
RATIO_EVERY = 5
NONFINITE_ALL_FORWARDS = 64  # activations checked for NaN / inf on every early forward, then every 8th
NONFINITE_EVERY = 8
FLUSH_EVERY_S = 0.25  # events are also flushed when this much time passed since the last flush
GRAD_CHECK_TENSORS = 4  # parameter tensors per optimizer whose gradient state decides "cleared since the last step"


class DoctorStop(BaseException):
    """Raised from inside torch once the requested optimizer steps are done; caught by `run`."""


class Probe:
    def __init__(self, config: dict) -> None:
        import torch

        self.torch = torch
        self.config = config
        self.max_steps = config.get("steps")
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        path = os.path.join(config["events"], f"events.{self.rank}.jsonl")
        # block-buffered, flushed after every optimizer step (and at the first non-finite value, and at the end): a
        # kill loses at most the events of one unfinished step, and the step costs no write() per event
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 -- closed in run()
        self.script_dir = os.path.dirname(os.path.abspath(config["script"]))
        self.torch_dir = os.path.dirname(os.path.abspath(torch.__file__))
        self.t0 = time.perf_counter()
        self._flushed = -1.0  # the first event (start) is flushed at once
        self.quiet = 0  # >0 while the probe itself runs tensor methods (not the user's syncs)
        self.steps = 0  # optimizer steps, all optimizers together
        self.stopping = False
        self.n_forward = 0
        self.n_backward = 0
        self.n_batches = 0
        self.depth = 0
        self.mode_ops: list[tuple[str, bool]] = []
        self.optimizers: list = []  # weak refs
        self.opt_state: dict[int, dict] = {}  # id(optimizer) -> bookkeeping
        self.param_owner: dict[int, list[int]] = {}  # id(param) -> indices of the optimizers holding it
        self.param_names: dict[int, str] = {}
        self.got_grad: set[int] = set()
        self.reached_now: set[int] = set()  # optimizer indices whose params received a gradient this backward
        self.module_trained: dict[int, bool] = {}
        self.opt_version = 0
        self.forward_outputs: dict[int, int] = {}  # data_ptr of recent no-backward outputs -> forward index
        self.syncs = 0
        self.data_wait = 0.0
        self.data_wait_cpu = 0.0  # the main thread's CPU time in the loader: a loaded machine does not inflate it
        self.nonfinite_seen = False
        self.full_nan_check = False
        self.scaler_state: dict[int, str] = {}  # id(optimizer) -> "scaled" | "unscaled"
        self.scaled_any = False
        self.loader_epochs: dict[int, int] = {}
        self.loader_stats: dict[int, dict] = {}
        self.last_step_t: float | None = None
        self.last_step_cpu: float | None = None
        self.profiler = None
        self._modules: list = []  # weak refs to the top-level modules forwarded (the first 64)
        self.nonfinite_module = None
        self.unowned: dict[int, tuple] = {}  # id(param) -> (param, name): parameters of called modules in no optimizer
        self.seen_sub: set[int] = set()
        self.in_backward = 0  # >0 while a backward runs: forwards then are checkpoint recomputations
        self.starting_workers = 0
        self.spawned = 0  # processes the script started itself (mp.spawn ranks): the probe does not run in them
        self._install()

    # ---------------------------------------------------------------- plumbing
    def emit(self, ev: str, **data) -> None:
        data["ev"] = ev
        now = time.perf_counter()
        data["t"] = round(now - self.t0, 6)
        try:
            self.out.write(json.dumps(data, default=_jsonable) + "\n")
            if now - self._flushed > FLUSH_EVERY_S:  # a script killed before its first step still tells its story
                self._flushed = now
                self.out.flush()
        except (ValueError, OSError):
            pass

    def site(self) -> list | None:
        """[file, line] of the innermost frame in the user's code (not torch's, not the probe's, not the stdlib's)."""
        frame = sys._getframe(2)
        fallback = None
        while frame is not None:
            name = frame.f_code.co_filename
            if not name.startswith((self.torch_dir, _HERE)) and not name.startswith("<"):
                if fallback is None:
                    fallback = [name, frame.f_lineno]
                if "site-packages" not in name and "/lib/python" not in name:
                    return [name, frame.f_lineno]
            frame = frame.f_back
        return fallback

    def user_call(self) -> bool:
        frame = sys._getframe(2)
        name = frame.f_code.co_filename
        return not name.startswith((self.torch_dir, _HERE))

    def maybe_stop(self) -> None:
        if self.max_steps is not None and self.steps >= self.max_steps and not self.stopping:
            self.stopping = True
            raise DoctorStop()

    # ---------------------------------------------------------------- hooks
    def _install(self) -> None:
        torch = self.torch
        probe = self
        import torch.nn.functional as F

        # ---- optimizers: parameters registered when groups are added; global step hooks
        original_add = torch.optim.Optimizer.add_param_group

        def add_param_group(opt, group):
            result = original_add(opt, group)
            try:
                probe._register_optimizer(opt, opt.param_groups[-1])
            except Exception:  # noqa: BLE001 -- the probe never breaks the user's script
                pass
            return result

        torch.optim.Optimizer.add_param_group = add_param_group  # type: ignore[method-assign]
        from torch.optim import optimizer as optimizer_module

        optimizer_module.register_optimizer_step_pre_hook(lambda opt, a, kw: probe._pre_step(opt))
        optimizer_module.register_optimizer_step_post_hook(lambda opt, a, kw: probe._post_step(opt))

        def wrap_zero_grad(original, kind):
            def zero_grad(obj, *a, **kw):
                try:
                    probe._on_clear(obj, kind)
                except Exception:  # noqa: BLE001
                    pass
                return original(obj, *a, **kw)

            return zero_grad

        torch.optim.Optimizer.zero_grad = wrap_zero_grad(torch.optim.Optimizer.zero_grad, "optimizer")  # type: ignore[method-assign]
        torch.nn.Module.zero_grad = wrap_zero_grad(torch.nn.Module.zero_grad, "module")  # type: ignore[method-assign]

        # ---- backward
        original_backward = torch.Tensor.backward
        original_autograd_backward = torch.autograd.backward

        def backward(tensor, *a, **kw):
            if probe.quiet:
                return original_backward(tensor, *a, **kw)
            probe.maybe_stop()
            probe._before_backward(tensor)
            probe.quiet += 1  # Tensor.backward calls torch.autograd.backward: count it once
            probe.in_backward += 1
            try:
                result = original_backward(tensor, *a, **kw)
            finally:
                probe.quiet -= 1
                probe.in_backward -= 1
            probe._after_backward()
            return result

        def autograd_backward(tensors, *a, **kw):
            if probe.quiet:
                return original_autograd_backward(tensors, *a, **kw)
            probe.maybe_stop()
            first = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else tensors
            probe._before_backward(first)
            probe.quiet += 1
            probe.in_backward += 1
            try:
                result = original_autograd_backward(tensors, *a, **kw)
            finally:
                probe.quiet -= 1
                probe.in_backward -= 1
            probe._after_backward()
            return result

        torch.Tensor.backward = backward  # type: ignore[method-assign]
        torch.autograd.backward = autograd_backward

        # ---- mode-dependent ops report the training flag they really ran with
        def mode_op(original, index: int, default: bool, has_p: bool):
            def wrapper(*args, **kwargs):
                if probe.depth > 0:
                    p = kwargs.get("p", args[1] if len(args) > 1 else 0.5) if has_p else 1.0
                    training = kwargs["training"] if "training" in kwargs else (
                        args[index] if len(args) > index else default)
                    if not has_p or (isinstance(p, (int, float)) and p > 0):
                        probe.mode_ops.append(("dropout" if has_p else "batchnorm", bool(training)))
                return original(*args, **kwargs)

            wrapper.__wrapped__ = original  # type: ignore[attr-defined]
            return wrapper

        for name, index, default, has_p in (
                ("dropout", 2, True, True), ("dropout1d", 2, True, True), ("dropout2d", 2, True, True),
                ("dropout3d", 2, True, True), ("alpha_dropout", 2, False, True),
                ("feature_alpha_dropout", 2, False, True), ("batch_norm", 5, False, False)):
            if hasattr(F, name):
                setattr(F, name, mode_op(getattr(F, name), index, default, has_p))

        self._hooks = [torch.nn.modules.module.register_module_forward_pre_hook(self._forward_pre),
                       torch.nn.modules.module.register_module_forward_hook(self._forward_post, always_call=True)]
        if self.config.get("compile_safe", True):
            # torch.compile must not trace the probe's hooks: their Python state would become guards and every
            # change a recompilation (the probe would cause the very PT-RUN019 it reports). torch.compiler.disable
            # imports dynamo (seconds) and costs per call: the hooks are swapped for disabled ones only when the
            # script compiles something.
            original_compile = torch.compile

            def compile_(*a, **kw):
                probe._compile_safe_hooks()
                return original_compile(*a, **kw)

            compile_.__wrapped__ = original_compile  # type: ignore[attr-defined]
            torch.compile = compile_
            original_module_compile = torch.nn.Module.compile

            def module_compile(module, *a, **kw):
                probe._compile_safe_hooks()
                return original_module_compile(module, *a, **kw)

            torch.nn.Module.compile = module_compile  # type: ignore[method-assign]

        # ---- clipping, scaler, schedulers
        original_clip = torch.nn.utils.clip_grad_norm_

        def clip_grad_norm_(parameters, max_norm, *a, **kw):
            if not isinstance(parameters, torch.Tensor):
                parameters = list(parameters)
            total = original_clip(parameters, max_norm, *a, **kw)
            try:
                probe._on_clip(parameters, max_norm, total)
            except Exception:  # noqa: BLE001
                pass
            return total

        torch.nn.utils.clip_grad_norm_ = clip_grad_norm_
        torch.nn.utils.clip_grad.clip_grad_norm_ = clip_grad_norm_
        try:
            from torch.amp import grad_scaler

            original_unscale = grad_scaler.GradScaler.unscale_
            original_scale = grad_scaler.GradScaler.scale

            def unscale_(scaler, optimizer):
                probe.scaler_state[id(optimizer)] = "unscaled"
                return original_unscale(scaler, optimizer)

            def scale(scaler, outputs):
                if scaler.is_enabled():
                    probe.scaled_any = True
                    for ref in probe.optimizers:
                        opt = ref()
                        if opt is not None and probe.scaler_state.get(id(opt)) != "unscaled":
                            probe.scaler_state[id(opt)] = "scaled"
                return original_scale(scaler, outputs)

            grad_scaler.GradScaler.unscale_ = unscale_  # type: ignore[method-assign]
            grad_scaler.GradScaler.scale = scale  # type: ignore[method-assign]
        except (ImportError, AttributeError):
            pass
        from torch.optim import lr_scheduler

        original_sched_step = lr_scheduler.LRScheduler.step

        def sched_step(sched, *a, **kw):
            result = original_sched_step(sched, *a, **kw)
            if getattr(sched, "_pp_seen", False):  # the constructor's own initial step is not the user's
                probe.emit("sched", cls=type(sched).__name__, step=probe.steps, site=probe.site(),
                           config=_sched_config(sched))
            else:
                sched._pp_seen = True
            return result

        lr_scheduler.LRScheduler.step = sched_step  # type: ignore[method-assign]
        original_cycle_init = lr_scheduler.OneCycleLR.__init__

        def cycle_init(sched, *a, **kw):  # OneCycleLR keeps total_steps only: remember how it was sized
            sched._pp_steps_per_epoch = kw.get("steps_per_epoch", a[4] if len(a) > 4 else None)
            return original_cycle_init(sched, *a, **kw)

        lr_scheduler.OneCycleLR.__init__ = cycle_init  # type: ignore[method-assign]

        # ---- data loading
        from torch.utils.data import dataloader as dl

        original_iter = dl.DataLoader.__iter__
        original_next = dl._BaseDataLoaderIter.__next__
        original_next_index = dl._BaseDataLoaderIter._next_index

        def loader_iter(loader):
            key = _loader_key(loader)  # a loader rebuilt every epoch over the same data is the same loader
            epoch = probe.loader_epochs.get(key, 0)
            probe.loader_epochs[key] = epoch + 1
            try:
                length = len(loader)
            except TypeError:
                length = None
            probe.emit("iter", loader=key, epoch=epoch, len=length, workers=loader.num_workers,
                       step=probe.steps, site=probe.site(), backwards=probe.n_backward,
                       sampler=type(loader.sampler).__name__ if hasattr(loader, "sampler") else None)
            probe.starting_workers += 1  # DataLoader workers are the loader's processes, not the script's
            try:
                it = original_iter(loader)
            finally:
                probe.starting_workers -= 1
            try:
                it._pp = {"loader": key, "epoch": epoch, "i": 0, "idx": []}
            except AttributeError:
                pass
            return it

        def next_index(it):
            index = original_next_index(it)
            info = getattr(it, "_pp", None)
            if info is not None and len(info["idx"]) < FP_BATCHES:
                try:
                    info["idx"].append(hash(tuple(index)) if isinstance(index, (list, tuple)) else hash(index))
                except TypeError:
                    pass
            return index

        def loader_next(it):
            probe.maybe_stop()
            t, c = time.perf_counter(), time.thread_time()
            probe.quiet += 1  # the dataset's own tensor calls are not the training step's syncs
            try:
                batch = original_next(it)
            finally:
                probe.quiet -= 1
            wait = time.perf_counter() - t
            probe.data_wait += wait
            probe.data_wait_cpu += time.thread_time() - c
            info = getattr(it, "_pp", None)
            if info is not None:
                probe._on_batch(info, batch, wait)
            return batch

        dl.DataLoader.__iter__ = loader_iter  # type: ignore[method-assign]
        dl._BaseDataLoaderIter.__next__ = loader_next  # type: ignore[method-assign]
        dl._BaseDataLoaderIter._next_index = next_index  # type: ignore[method-assign]

        # ---- processes the script starts itself (torch.multiprocessing.spawn, multiprocessing.Process)
        import multiprocessing.process as mp_process

        original_start = mp_process.BaseProcess.start

        def process_start(proc, *a, **kw):
            if not probe.starting_workers:
                probe.spawned += 1
                if probe.spawned <= 16:
                    probe.emit("spawn", step=probe.steps, site=probe.site())
            return original_start(proc, *a, **kw)

        mp_process.BaseProcess.start = process_start  # type: ignore[method-assign]

        # ---- host syncs from the user's code
        def counting(original):
            def wrapper(tensor, *a, **kw):
                if not probe.quiet and probe.user_call():
                    probe.syncs += 1
                probe.quiet += 1
                try:
                    return original(tensor, *a, **kw)
                finally:
                    probe.quiet -= 1

            return wrapper

        for name in ("item", "tolist", "cpu", "numpy", "__repr__", "__format__"):
            setattr(torch.Tensor, name, counting(getattr(torch.Tensor, name)))

    def _compile_safe_hooks(self) -> None:
        if getattr(self, "_hooks_disabled", False):
            return
        self._hooks_disabled = True
        torch = self.torch
        for handle in self._hooks:
            handle.remove()
        pre, post = torch.compiler.disable(self._forward_pre), torch.compiler.disable(self._forward_post)
        self._hooks = [torch.nn.modules.module.register_module_forward_pre_hook(pre),
                       torch.nn.modules.module.register_module_forward_hook(post, always_call=True)]

    # ---------------------------------------------------------------- optimizers
    def _register_optimizer(self, opt, group) -> None:
        st = self.opt_state.get(id(opt))
        if st is None:
            index = len(self.optimizers)
            self.optimizers.append(_Strong(opt))
            st = {"index": index, "steps": 0, "window": 0, "cleared": True, "stepped": False, "sample": [],
                  "grad_refs": {}, "discarded": 0, "clears": 0, "snap": None, "site": self.site()}
            self.opt_state[id(opt)] = st
            self.emit("opt", opt=index, cls=type(opt).__name__, site=st["site"])
        index = st["index"]
        for p in group["params"]:
            owners = self.param_owner.setdefault(id(p), [])
            if index not in owners:
                owners.append(index)
            if p.requires_grad and not getattr(p, "_pp_hooked", False):
                try:
                    p.register_post_accumulate_grad_hook(self._grad_hook)
                    p._pp_hooked = True
                except RuntimeError:
                    pass
        self.opt_version += 1
        self.module_trained.clear()

    def _grad_hook(self, p) -> None:
        self.got_grad.add(id(p))
        for index in self.param_owner.get(id(p), ()):
            self.reached_now.add(index)

    def _params(self, opt) -> list:
        return [p for g in opt.param_groups for p in g["params"]]

    def _on_clear(self, obj, kind: str) -> None:
        if kind == "optimizer":
            targets = [obj]
        else:
            ids = {id(p) for p in obj.parameters()}
            targets = [ref() for ref in self.optimizers]
            targets = [o for o in targets if o is not None and any(id(p) in ids for p in self._params(o)[:4])]
        for opt in targets:
            st = self.opt_state.get(id(opt))
            if st is None:
                continue
            if st["window"]:
                st["discarded"] += st["window"]
                self.emit("discard", opt=st["index"], backwards=st["window"], step=self.steps, site=self.site(),
                          kind=kind)
            st["window"] = 0
            st["cleared"] = True
            st["clears"] += 1
            self.scaler_state.pop(id(opt), None)

    def _pre_step(self, opt) -> None:
        self.maybe_stop()
        st = self.opt_state.get(id(opt))
        if st is None:
            return
        torch = self.torch
        self.quiet += 1
        try:
            params = self._params(opt)
            with_grad = [p for p in params if p.grad is not None]
            # gradients written to .grad by hand (torch.func / per-sample gradients, no backward): new tensors
            refs = st["grad_refs"]
            st["assigned"] = bool(with_grad) and not st["window"] and all(
                refs.get(id(p)) is not p.grad for p in with_grad[:GRAD_CHECK_TENSORS])
            # Cleared since the last step: zero_grad seen, or the sampled gradients are new tensors / None.
            if not st["cleared"] and st["steps"] > 0:
                refs = st["grad_refs"]
                same = [p for p in with_grad[:GRAD_CHECK_TENSORS] if refs.get(id(p)) is p.grad]
                st["cleared"] = not same
            grads = [p.grad for p in with_grad]
            gnorm = None
            if grads and self.profiler is None:
                norms = torch._foreach_norm([g.detach() for g in grads])
                try:  # one device sync, not one per tensor
                    gnorm = float(torch.linalg.vector_norm(torch.stack([n.float() for n in norms])))
                except RuntimeError:  # gradients on several devices
                    gnorm = float(torch.linalg.vector_norm(torch.stack([n.float().cpu() for n in norms])))
            # update ratios: every step at first (the checks read steps 1-5), then every RATIO_EVERY-th step;
            # while profiling, the probe's own measurements stay out of the operator table
            sampled = self.profiler is None and (st["steps"] < RATIO_ALL_STEPS or st["steps"] % RATIO_EVERY == 0)
            sample = [p for p in with_grad if p.dim() >= 1 and RATIO_MIN_NUMEL <= p.numel() <= RATIO_MAX_NUMEL] \
                if sampled else []
            sample = sorted(sample, key=lambda p: -p.numel())[:RATIO_TENSORS]
            st["snap"] = [(p, p.detach().clone()) for p in sample]
            st["pre"] = {"gnorm": gnorm, "with_grad": len(with_grad), "params": len(params)}
        finally:
            self.quiet -= 1

    def _post_step(self, opt) -> None:
        st = self.opt_state.get(id(opt))
        if st is None:
            return
        torch = self.torch
        self.quiet += 1
        try:
            self.steps += 1
            st["steps"] += 1
            ratios = []
            for p, before in st.get("snap") or []:
                w = float(torch.linalg.vector_norm(before.float()))
                d = float(torch.linalg.vector_norm((p.detach() - before).float()))
                if w > 0 and math.isfinite(w):
                    ratios.append(d / w)
            st["snap"] = None
            lrs = []
            for g in opt.param_groups:
                lr = g.get("lr")
                lr = float(lr) if isinstance(lr, (int, float)) or hasattr(lr, "item") else None
                base = g.get("initial_lr")
                lrs.append([lr, float(base) if isinstance(base, (int, float)) else None])
            pre = st.get("pre") or {}
            now, now_cpu = time.perf_counter(), time.thread_time()
            gnorm = pre.get("gnorm")
            self.emit("step", opt=st["index"], k=self.steps, n=st["steps"], window=st["window"],
                      cleared=st["cleared"], lr=lrs, gnorm=gnorm, ratios=[round(r, 8) for r in ratios],
                      with_grad=pre.get("with_grad"), params=pre.get("params"), site=self.site(),
                      syncs=self.syncs, wait=round(self.data_wait, 6),
                      dt=None if self.last_step_t is None else round(now - self.last_step_t, 6),
                      wait_cpu=round(self.data_wait_cpu, 6),
                      dt_cpu=None if self.last_step_cpu is None else round(now_cpu - self.last_step_cpu, 6),
                      scaled=self.scaled_any, assigned=st.get("assigned") or None)
            if gnorm is not None and not math.isfinite(gnorm) and not self.scaled_any:
                self._nonfinite("gradient", None, self.site())
            try:
                self.out.flush()
            except (ValueError, OSError):
                pass
            self.last_step_t, self.last_step_cpu = now, now_cpu
            self.syncs = 0
            self.data_wait = self.data_wait_cpu = 0.0
            st["window"] = 0
            st["cleared"] = False
            st["grad_refs"] = {id(p): p.grad for g in opt.param_groups for p in g["params"][:GRAD_CHECK_TENSORS * 4]
                               if p.grad is not None}
            self.scaler_state.pop(id(opt), None)
            if st["steps"] in (1, 3) or (self.max_steps and self.steps == self.max_steps):
                self._param_report()
            if self.profiler is None and self.config.get("profile") and self.steps == 1:
                self._start_profiler()
        finally:
            self.quiet -= 1

    def _param_report(self) -> None:
        """Which optimizer parameters got gradients so far, which require none, and trained modules' parameters
        that get gradients but belong to no optimizer."""
        self._name_params()
        out = []
        for ref in self.optimizers:
            opt = ref()
            if opt is None:
                continue
            st = self.opt_state[id(opt)]
            never, frozen = [], []
            for p in self._params(opt):
                name = self.param_names.get(id(p), f"<tensor {tuple(p.shape)}>")
                if not p.requires_grad:
                    frozen.append(name)
                elif id(p) not in self.got_grad:
                    never.append(name)
            out.append({"opt": st["index"], "steps": st["steps"], "never": never[:50], "n_never": len(never),
                        "frozen": frozen[:50], "n_frozen": len(frozen),
                        "n_params": len(self._params(opt))})
        orphans = []
        for ref in self._modules:
            module = ref()
            if module is None or not self._trained(module):
                continue
            for name, p in module.named_parameters():
                if p.requires_grad and id(p) not in self.param_owner and p.grad is not None:
                    orphans.append(f"{type(module).__name__}.{name}")
        for pid, (p, name) in self.unowned.items():
            if id(p) not in self.param_owner and p.grad is not None and name not in orphans:
                orphans.append(name)
        self.emit("params", step=self.steps, optimizers=out, orphans=orphans[:50], n_orphans=len(orphans))

    def _name_params(self) -> None:
        for ref in self._modules:
            module = ref()
            if module is None:
                continue
            for name, p in module.named_parameters():
                self.param_names.setdefault(id(p), f"{type(module).__name__}.{name}")

    def _trained(self, module) -> bool:
        key = id(module)
        known = self.module_trained.get(key)
        if known is None:
            known = any(id(p) in self.param_owner for p in module.parameters())
            self.module_trained[key] = known
        return known

    # ---------------------------------------------------------------- forwards
    def _forward_pre(self, module, inputs):
        if self.in_backward:
            return  # gradient checkpointing recomputes forwards inside the backward: not a forward of the script
        if self.depth == 0:
            self.maybe_stop()
        try:
            self._forward_pre_record(module, inputs)
        except Exception:  # noqa: BLE001 -- the probe never breaks the user's forward (functorch tensors, ...)
            pass
        self.depth += 1

    def _forward_pre_record(self, module, inputs):
        if self.depth == 0:
            self.mode_ops = []
            self.top = module
            self.top_grad = self.torch.is_grad_enabled()
            self.fed_by = []
            self.inp_fp = None
            if len(self._modules) < 64 and not any(r() is module for r in self._modules):
                self._modules.append(_Strong(module))
            if self.n_forward < MAX_FORWARD_EVENTS:
                self.quiet += 1
                try:
                    first = _first_tensor(inputs)
                    for t in _tensors(inputs, 4):
                        if t.is_floating_point() and t.numel() and _plain(t):
                            owner = self.forward_outputs.get(t.data_ptr())
                            if owner is not None:
                                self.fed_by.append(owner)
                    if first is not None and self.top_grad and _plain(first):
                        self.inp_fp = _fingerprint(first)
                finally:
                    self.quiet -= 1
        elif self.steps < 3 and id(module) not in self.seen_sub and len(self.seen_sub) < 5000:
            # submodules called during the first steps: own parameters that no optimizer holds (a layer kept
            # in a plain list, a head replaced after the optimizer was built)
            self.seen_sub.add(id(module))
            for name, p in module.named_parameters(recurse=False):
                if p.requires_grad and id(p) not in self.param_owner:
                    self.unowned[id(p)] = (p, f"{type(module).__name__}.{name}")

    def _forward_post(self, module, inputs, output):
        if self.in_backward:
            return
        self.depth = max(0, self.depth - 1)
        try:
            self._forward_post_record(module, inputs, output)
        except Exception:  # noqa: BLE001 -- the probe never breaks the user's forward
            if self.depth == 0:
                self.top = None

    def _forward_post_record(self, module, inputs, output):
        if self.full_nan_check and self.depth > 0 and not self.nonfinite_module:
            self.quiet += 1
            try:
                t = _first_tensor(output)
                if t is not None and t.is_floating_point() and _plain(t) and not bool(self.torch.isfinite(t).all()):
                    inp = _first_tensor(inputs)
                    if inp is None or not inp.is_floating_point() or bool(self.torch.isfinite(inp).all()):
                        self.nonfinite_module = type(module).__name__
            finally:
                self.quiet -= 1
        if self.depth != 0 or getattr(self, "top", None) is not module:
            return
        self.top = None
        n = self.n_forward
        self.n_forward += 1
        if n >= MAX_FORWARD_EVENTS:
            return
        self.quiet += 1
        try:
            reached = False
            outs = [t for t in _tensors(output, 2) if _plain(t)]
            if self.top_grad:
                for t in outs:
                    if t.requires_grad and t.grad_fn is not None:
                        t.register_hook(_ReachHook(self, n))
                        reached = True
                        break
            if not reached or not self.top_grad:
                for t in outs:
                    if t.is_floating_point() and t.numel():
                        self.forward_outputs[t.data_ptr()] = n
                        if len(self.forward_outputs) > 256:
                            self.forward_outputs.pop(next(iter(self.forward_outputs)))
            finite = True
            first = outs[0] if outs else None
            if (first is not None and first.is_floating_point() and not self.nonfinite_seen
                    and (n < NONFINITE_ALL_FORWARDS or n % NONFINITE_EVERY == 0)):
                finite = bool(self.torch.isfinite(first).all())
            has_params = any(True for _ in module.parameters())
            self.emit("fwd", n=n, mod=type(module).__name__, mid=id(module), step=self.steps,
                      grad=self.top_grad, modes=_summ(self.mode_ops), trained=self._trained(module),
                      params=has_params, fed_by=self.fed_by, fp=self.inp_fp,
                      site=self.site() if n < 400 else None)
            if not finite:
                self._nonfinite("activation", type(module).__name__, self.site())
        finally:
            self.quiet -= 1

    def _nonfinite(self, what: str, module: str | None, site) -> None:
        if self.nonfinite_seen:
            return
        self.nonfinite_seen = True
        self.full_nan_check = True
        self.nonfinite_module = None
        self.nonfinite_what = (what, module, site, self.steps)
        self.emit("nonfinite", what=what, module=module, step=self.steps, site=site)
        try:
            self.out.flush()
        except (ValueError, OSError):
            pass

    # ---------------------------------------------------------------- backward
    def _before_backward(self, tensor) -> None:
        self.reached_now = set()
        self.quiet += 1
        try:
            loss = None
            if isinstance(tensor, self.torch.Tensor) and tensor.numel() == 1:
                loss = float(tensor.detach().float().reshape(()))
            self.bwd_loss = loss
            if loss is not None and not math.isfinite(loss):
                self._nonfinite("loss", None, self.site())
        finally:
            self.quiet -= 1

    def _after_backward(self) -> None:
        n = self.n_backward
        self.n_backward += 1
        reached = sorted(self.reached_now)
        for ref in self.optimizers:
            opt = ref()
            if opt is not None:
                st = self.opt_state[id(opt)]
                if st["index"] in self.reached_now:
                    st["window"] += 1
        self.emit("bwd", n=n, loss=self.bwd_loss, reached=reached, step=self.steps, site=self.site(),
                  culprit=getattr(self, "nonfinite_module", None) if self.nonfinite_seen else None)

    # ---------------------------------------------------------------- clipping
    def _on_clip(self, parameters, max_norm, total) -> None:
        ids = {id(p) for p in ([parameters] if isinstance(parameters, self.torch.Tensor) else parameters)}
        scaled = False
        for ref in self.optimizers:
            opt = ref()
            if opt is not None and self.scaler_state.get(id(opt)) == "scaled":
                if any(id(p) in ids for p in self._params(opt)[:8]):
                    scaled = True
        self.quiet += 1
        try:
            value = float(total)
        finally:
            self.quiet -= 1
        self.emit("clip", norm=value, max=float(max_norm), scaled=scaled, step=self.steps, site=self.site())

    # ---------------------------------------------------------------- data
    def _on_batch(self, info: dict, batch, wait: float) -> None:
        i = info["i"]
        info["i"] += 1
        self.n_batches += 1
        if self.n_batches > MAX_BATCH_EVENTS:
            return
        event = {"loader": info["loader"], "epoch": info["epoch"], "i": i, "wait": round(wait, 6),
                 "step": self.steps}
        if i < FP_BATCHES:
            self.quiet += 1
            try:
                if len(info["idx"]) > i:
                    event["idx"] = info["idx"][i]
                t = _first_tensor(batch)
                if t is not None:
                    event["fp"] = _fingerprint(t)
            finally:
                self.quiet -= 1
        stats = self.loader_stats.setdefault(info["loader"], {"n": 0, "cols": {}})
        if stats["n"] < STAT_BATCHES:
            stats["n"] += 1
            self.quiet += 1
            try:
                event["cols"] = _column_stats(self.torch, batch)
            finally:
                self.quiet -= 1
        self.emit("batch", **event)

    # ---------------------------------------------------------------- profiler
    def _start_profiler(self) -> None:
        try:
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU]
            if self.torch.cuda.is_available():
                acts.append(ProfilerActivity.CUDA)
            self.profiler = profile(activities=acts, profile_memory=True)
            self.profiler.__enter__()
        except Exception as exc:  # noqa: BLE001
            self.emit("note", message=f"profiler could not start: {exc}")
            self.profiler = None

    def _stop_profiler(self) -> None:
        if self.profiler is None:
            return
        try:
            self.profiler.__exit__(None, None, None)
            cuda = self.torch.cuda.is_available()
            rows = []
            for e in sorted(self.profiler.key_averages(), key=lambda e: -e.self_cpu_time_total)[:15]:
                rows.append({"op": e.key, "calls": e.count, "self_cpu_ms": round(e.self_cpu_time_total / 1000, 3),
                             "cpu_ms": round(e.cpu_time_total / 1000, 3),
                             "device_ms": round(getattr(e, "self_device_time_total", 0) / 1000, 3) if cuda else None})
            summary = self.torch.cuda.memory_summary() if cuda else None
            self.emit("profile", ops=rows, cuda_memory=summary)
        except Exception as exc:  # noqa: BLE001
            self.emit("note", message=f"profiler failed: {exc}")

    # ---------------------------------------------------------------- end
    def finish(self, reason: str, error: str | None, code: int) -> None:
        self.quiet += 1
        try:
            self._stop_profiler()
            try:
                self._param_report()
            except Exception:  # noqa: BLE001
                pass
            weights = None
            try:
                total = 0.0
                for ref in self.optimizers:
                    opt = ref()
                    if opt is not None:
                        for p in self._params(opt):
                            total += float(p.detach().double().sum())
                weights = total
            except Exception:  # noqa: BLE001
                pass
            pending = {st["index"]: st["window"] for st in self.opt_state.values() if st["window"]}
            cuda_max = None
            if "torch.cuda" in sys.modules and self.torch.cuda.is_available() and self.torch.cuda.is_initialized():
                cuda_max = self.torch.cuda.max_memory_allocated() / (1 << 20)
            compile_stats = None
            if "torch._dynamo" in sys.modules:
                try:
                    from torch._dynamo.utils import counters

                    compile_stats = {k: dict(v) for k, v in counters.items() if k in ("stats", "recompiles", "frames")}
                    compile_stats["recompile_limit_hits"] = _RECOMPILE_LIMIT.hits
                except Exception:  # noqa: BLE001
                    pass
            self.emit("end", reason=reason, error=error, code=code, steps=self.steps, weights=weights,
                      pending=pending, cuda_max_mb=cuda_max, compile=compile_stats, forwards=self.n_forward,
                      backwards=self.n_backward, batches=self.n_batches)
        finally:
            self.quiet -= 1
            self.out.flush()


class _Strong:
    """A strong reference with weakref's call interface: the doctor's runs are short and end with the process,
    and the final report needs the optimizers and modules after the script's frames are gone."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __call__(self):
        return self.obj


class _ReachHook:
    """Tensor hook on a forward's output: its gradient was computed, so the forward reached a backward."""

    __slots__ = ("n", "probe", "done")

    def __init__(self, probe: Probe, n: int) -> None:
        self.probe, self.n, self.done = probe, n, False

    def __call__(self, grad):
        if not self.done:
            self.done = True
            self.probe.emit("reach", n=self.n)


def _summ(ops: list[tuple[str, bool]]) -> dict | None:
    """{"dropout": "train" | "eval" | "mixed", "batchnorm": ...} for the mode-dependent ops a forward ran."""
    if not ops:
        return None
    out = {}
    for kind in ("dropout", "batchnorm"):
        flags = [training for k, training in ops if k == kind]
        if flags:
            out[kind] = "train" if all(flags) else "eval" if not any(flags) else "mixed"
    return out


def _tensors(obj, limit: int) -> list:
    import torch

    out: list = []
    todo = [obj]
    while todo and len(out) < limit:
        item = todo.pop(0)
        if isinstance(item, torch.Tensor):
            out.append(item)
        elif isinstance(item, (list, tuple)):
            todo.extend(item[:8])
        elif isinstance(item, dict):
            todo.extend(list(item.values())[:8])
    return out


def _plain(t) -> bool:
    """A tensor with storage the probe may read (not a functorch wrapper inside vmap / grad, not a fake tensor)."""
    try:
        import torch

        if torch._C._functorch.is_functorch_wrapped_tensor(t):
            return False
        t.data_ptr()
        return True
    except Exception:  # noqa: BLE001
        return False


def _first_tensor(obj):
    found = _tensors(obj, 1)
    return found[0] if found else None


def _fingerprint(t) -> int | None:
    """A cheap content hash: shape plus 64 evenly spaced values."""
    if t.numel() == 0:
        return None
    flat = t.detach().reshape(-1)
    step = max(1, flat.numel() // 64)
    values = flat[::step][:64]
    if values.is_floating_point() or values.is_complex():
        values = values.double()
    return hash((tuple(t.shape), tuple(values.cpu().tolist())))


def _column_stats(torch, batch) -> list:
    """Per batch element: label values (1-D) or per-column min/max of 2-D float features (first 64 columns)."""
    out = []
    for pos, t in enumerate(_tensors(batch, 6)):
        if t.numel() == 0 or t.is_complex():
            continue
        if t.dim() == 1 or (t.dim() == 2 and t.shape[1] == 1):
            flat = t.detach().reshape(-1)
            out.append({"pos": pos, "kind": "label", "n": int(flat.numel()),
                        "min": float(flat.min().double()), "max": float(flat.max().double())})
        elif t.dim() == 2 and t.is_floating_point() and t.shape[1] <= 4096:
            cols = t.detach()[:, :64].double()
            out.append({"pos": pos, "kind": "features", "n": int(t.shape[0]), "width": int(t.shape[1]),
                        "min": cols.min(dim=0).values.cpu().tolist(), "max": cols.max(dim=0).values.cpu().tolist()})
    return out


def _loader_key(loader) -> int:
    """Identity of what a DataLoader serves: its dataset, sampler kind and size, batch size."""
    sampler = getattr(loader, "sampler", None)
    try:
        n = len(sampler) if sampler is not None else None
    except TypeError:
        n = None
    return hash((id(loader.dataset), type(sampler).__name__, n, loader.batch_size)) & 0xFFFFFFFFFFFF


def _sched_config(sched) -> dict:
    keys = ("T_max", "step_size", "milestones", "total_iters", "total_steps", "T_0", "gamma", "warmup_steps")
    out = {}
    for key in keys:
        value = getattr(sched, key, None)
        if value is not None:
            out[key] = sorted(value) if key == "milestones" else value
    spe = getattr(sched, "_pp_steps_per_epoch", None)
    if isinstance(spe, int):
        out["steps_per_epoch"] = spe
    return out


def _jsonable(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class _RecompileLimit(logging.Handler):
    """Counts dynamo's 'hit config.recompile_limit' warnings (frame/graph counters cannot tell recompilations
    from the graph breaks the probe's own hooks cause)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.hits = 0

    def emit(self, record) -> None:
        try:
            if "recompile_limit" in record.getMessage():
                self.hits += 1
        except Exception:  # noqa: BLE001
            pass


_RECOMPILE_LIMIT = _RecompileLimit()


def run(config: dict, script: str, args: list[str]) -> int:
    logging.getLogger("torch._dynamo").addHandler(_RECOMPILE_LIMIT)
    probe = Probe(config)
    probe.emit("start", pid=os.getpid(), rank=probe.rank, world=probe.world, torch=probe.torch.__version__,
               python=sys.version.split()[0], cuda=probe.torch.cuda.is_available(), argv=[script, *args])
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    reason, error, code = "finished", None, 0
    try:
        runpy.run_path(script, run_name="__main__")
    except DoctorStop:
        reason = "stopped"
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        reason = "exit" if code else "finished"
    except BaseException as exc:  # noqa: BLE001 -- the trace records any failure of the script
        if isinstance(exc.__context__, DoctorStop) or probe.stopping and isinstance(exc, RuntimeError):
            reason = "stopped"  # a script (or torch) re-raised our stop as another error: still a clean stop
        else:
            reason, code = "error", 1
            tb = exc.__traceback__  # the user's frames only: drop the probe's and runpy's
            while tb is not None and (tb.tb_frame.f_code.co_filename.startswith(_HERE)
                                      or "runpy" in tb.tb_frame.f_code.co_filename):
                tb = tb.tb_next
            lines = traceback.format_exception(type(exc), exc, tb)
            error = "".join(lines[-12:])
            sys.stderr.write("".join(lines))
    probe.finish(reason, error, code)
    return code


def main() -> int:
    config = json.loads(os.environ.get("PP_DOCTOR_CONFIG", "{}"))
    if len(sys.argv) < 2 or "events" not in config:
        print("usage: PP_DOCTOR_CONFIG='{\"events\": DIR}' python -m pytorch_patterns.reference_impls.doctor.probe SCRIPT [ARGS...]",
              file=sys.stderr)
        return 2
    config["script"] = sys.argv[1]
    threads = config.get("threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    return run(config, sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    exit_code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(exit_code if isinstance(exit_code, int) else 1)
