"""Runtime checks: pure functions from one rank's recorded events (see probe.py) to PT-RUN findings.

`run_checks(events, cuda=False)` returns `DoctorFinding`s (the reviewer's `Finding` plus `evidence` and `step`),
anchored at the user's call site the probe saw (the forward, backward, step, clip or loop line). Every threshold
is a named constant with the reason for its value. Precision first: each check needs clear evidence, and
checks that a known root cause explains (a non-finite loss explains a diverging one) stay silent.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from statistics import median

from pydantic import Field

from pytorch_patterns.skill.review.models import Finding, Severity

# ---------------------------------------------------------------- thresholds
# Update-to-weight ratio ||dW|| / ||W|| per step (median over the sampled tensors, then over steps). ~1e-3 is the
# usual operating point (Adam's first step gives lr * sqrt(3 * fan_in): 0.01-0.1 for lr 1e-3); above 0.3 every
# step rewrites a third of the weights (Adam lr 1e-2 on a 784-wide MLP measures ~0.2) (an LR ~100x too large); below 1e-6 a thousand steps move the weights by
# 0.1% (an LR ~1000x too small for its optimizer).
RATIO_TOO_LARGE = 0.3
RATIO_ONE_STEP = 1.0  # one early step that moves the weights by more than their norm is always too large
RATIO_TOO_SMALL = 1e-6
MIN_RATIO_STEPS = 3  # the ratio verdict needs a few steps (the first one of Adam is atypical)
# Loss curve: diverging when the mean of the last quarter is 10x the first quarter's (noise in a few steps of a
# small model stays within 2-3x); flat when no loss differs from the first by more than 1e-7 relative (float32
# rounding of a loss that really changes is far larger than that).
DIVERGE_FACTOR = 10.0
FLAT_RELATIVE = 1e-7
MIN_LOSS_POINTS = 8
NEGATIVE_RUNAWAY = 2.0  # a negative loss whose last quarter is twice the first quarter (in magnitude), falling
# Data: input-bound when more than half of the step time is spent waiting for batches and the wait is at least
# 10 ms a step (below that a tiny model's collate or worker IPC dominates without any real problem).
INPUT_BOUND_SHARE = 0.5
INPUT_BOUND_MIN_WAIT_S = 0.010
# Without workers the share and the wait are the main thread's CPU time (load-proof), which measures the loader's own
# work: 2 ms a step of pure fetching/augmenting is already more than a small model's step (seen: a per-sample Python
# augment 7.0 ms CPU, 81%; a TensorDataset with the default collate 0.3 ms, 18%).
INPUT_BOUND_MIN_CPU_WAIT_S = 0.002
# With workers the wait also measures how busy the host's cores are (workers compete with the step for CPU):
# demand a clearer majority.
INPUT_BOUND_SHARE_WORKERS = 0.75
MIN_LABELS = 64  # a label or column is "constant" only over at least this many rows
SAME_BATCH_STEPS = 3  # consecutive steps with identical inputs (the bug shows at its third step)
# Schedule: the LR "collapses" below 1% of its peak (an order of magnitude below any sane final LR of a
# first epoch).
LR_COLLAPSE = 0.01
# Warm-up stuck: for more than an epoch every applied LR stays under 5% of the group's initial LR (a warm-up
# sized in steps but stepped per epoch; a legit per-epoch warm-up passes 5% within its first epochs).
WARMUP_STUCK = 0.05
# Warm-up outlasting the run: a script that finished on its own with the applied LR still rising at (nearly)
# every step and below half its target never trained at the LR it was tuned for.
WARMUP_UNFINISHED = 0.5
MIN_RAMP_STEPS = 6
# Host syncs per step (median): a training step needs one or two (logging the loss); more than 8 stall the GPU.
SYNCS_PER_STEP = 8
# torch.compile: recompilations are judged by dynamo's own 'hit config.recompile_limit' warning; graph and frame
# counters also count the graph breaks the probe's global hooks cause, so they prove nothing alone.

RULE_NAMES = {
    "PT-RUN001": "eval-in-train-mode", "PT-RUN002": "train-in-eval-mode", "PT-RUN003": "step-without-new-grads",
    "PT-RUN004": "grads-carried-over", "PT-RUN005": "accumulation-misaligned",
    "PT-RUN006": "param-never-gets-grad", "PT-RUN007": "param-not-optimized",
    "PT-RUN008": "frozen-param-in-optimizer", "PT-RUN009": "non-finite", "PT-RUN010": "loss-diverging-or-flat",
    "PT-RUN011": "update-ratio-out-of-range", "PT-RUN012": "clip-on-scaled-grads",
    "PT-RUN013": "loader-order-repeats", "PT-RUN014": "same-batch-repeated", "PT-RUN015": "constant-column",
    "PT-RUN016": "input-bound", "PT-RUN017": "lr-schedule-anomaly", "PT-RUN018": "host-syncs-per-step",
    "PT-RUN019": "recompilations", "PT-RUN020": "nondeterministic", "PT-RUN021": "resume-mismatch",
}
SEVERITY = {
    "PT-RUN001": Severity.high, "PT-RUN002": Severity.high, "PT-RUN003": Severity.high, "PT-RUN004": Severity.high,
    "PT-RUN005": Severity.medium, "PT-RUN006": Severity.medium, "PT-RUN007": Severity.high,
    "PT-RUN008": Severity.low, "PT-RUN009": Severity.high, "PT-RUN010": Severity.high,
    "PT-RUN011": Severity.medium, "PT-RUN012": Severity.high, "PT-RUN013": Severity.medium,
    "PT-RUN014": Severity.high, "PT-RUN015": Severity.medium, "PT-RUN016": Severity.low,
    "PT-RUN017": Severity.medium, "PT-RUN018": Severity.low, "PT-RUN019": Severity.low,
    "PT-RUN020": Severity.medium, "PT-RUN021": Severity.high,
}


class DoctorFinding(Finding):
    """A reviewer `Finding` with the runtime evidence behind it."""

    step: int | None = Field(None, description="Optimizer step (all optimizers together) at which it was seen.")
    evidence: dict = Field(default_factory=dict)
    ranks: list[int] = Field(default_factory=list, description="torchrun ranks that showed it.")


def make_finding(code: str, site, message: str, *, step: int | None = None, evidence: dict | None = None,
                 severity: Severity | None = None, script: str = "") -> DoctorFinding:
    file, line = (site[0], int(site[1])) if site else (script, 1)
    return DoctorFinding(file=file, line=line, col=1, end_line=line, end_col=1, rule=code, name=RULE_NAMES[code],
                         severity=severity or SEVERITY[code], message=message, step=step, evidence=evidence or {})


class Trace:
    """Indexes over one rank's events."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.by: dict[str, list[dict]] = defaultdict(list)
        for e in events:
            self.by[e.get("ev", "")].append(e)
        self.reached = {e["n"] for e in self.by["reach"]}
        self.steps = self.by["step"]
        self.end = self.by["end"][-1] if self.by["end"] else None
        self.cuda = bool(self.by["start"] and self.by["start"][0].get("cuda"))
        self.train_loader = self._train_loader()

    def _train_loader(self) -> int | None:
        """The loader whose batches were served at the most distinct optimizer steps (evaluation loaders are
        consumed between two steps)."""
        steps: dict[int, set] = defaultdict(set)
        for b in self.by["batch"]:
            steps[b["loader"]].add(b.get("step"))
        if not steps:
            return None
        best = max(steps, key=lambda k: len(steps[k]))
        return best if len(steps[best]) >= 2 or len(steps) == 1 else None

    @property
    def total_steps(self) -> int:
        return len(self.by["step"])

    def loader_len(self, loader: int | None) -> int | None:
        for e in self.by["iter"]:
            if e["loader"] == loader:
                return e.get("len")
        return None


def run_checks(events: list[dict], script: str = "") -> list[DoctorFinding]:
    tr = Trace(events)
    out: list[DoctorFinding] = []
    for check in (check_modes, check_steps, check_accumulation, check_params, check_nonfinite, check_loss,
                  check_update_ratio, check_clip, check_loader_order, check_same_batch, check_constant_columns,
                  check_input_bound, check_lr_schedule, check_syncs, check_recompiles):
        out.extend(check(tr, script))
    return _explained(out)


def _explained(out: list[DoctorFinding]) -> list[DoctorFinding]:
    """Drop the consequences of a root cause found in the same run: gradients carried over from step to step
    (PT-RUN004) grow every update, so the loss diverging (PT-RUN010) or an update ratio far too large (PT-RUN011)
    is that bug again, not a second one."""
    carried = next((f for f in out if f.rule == "PT-RUN004"), None)
    if carried is None:
        return out
    effects = [f for f in out if f.rule == "PT-RUN011" and f.evidence.get("median_ratio", 0) > RATIO_TOO_LARGE
               or f.rule == "PT-RUN010" and "last" in f.evidence]
    if effects:
        carried.message += " The loss diverges / the updates blow up as a consequence."
        carried.evidence["consequences"] = sorted({f.rule for f in effects})
    return [f for f in out if f not in effects]


# ---------------------------------------------------------------- modes (PT-RUN001, PT-RUN002)
def _mode_train(modes: dict | None) -> bool:
    return bool(modes) and any(v in ("train", "mixed") for v in modes.values())


def check_modes(tr: Trace, script: str) -> list[DoctorFinding]:
    fwds = tr.by["fwd"]
    last_bwd_t = tr.by["bwd"][-1]["t"] if tr.by["bwd"] else -1.0
    feeders = {n for f in fwds if f.get("params") for n in f.get("fed_by", [])}
    out = []
    eval_bug = next((f for f in fwds if f.get("trained") and _mode_train(f.get("modes"))
                     and f["n"] not in tr.reached and f["n"] not in feeders
                     and (not f["grad"] or f["t"] < last_bwd_t)), None)
    if eval_bug is not None:
        how = "under no_grad / inference_mode" if not eval_bug["grad"] else "whose output never reached a backward"
        layers = ", ".join(k for k, v in (eval_bug.get("modes") or {}).items() if v != "eval")
        out.append(make_finding(
            "PT-RUN001", eval_bug.get("site"),
            f"{eval_bug['mod']} ran {layers} in training mode in an evaluation forward ({how}) after step "
            f"{eval_bug['step']}: call model.eval() before evaluating (and model.train() after).",
            step=eval_bug["step"], evidence={"module": eval_bug["mod"], "forward": eval_bug["n"],
                                             "grad_enabled": eval_bug["grad"], "modes": eval_bug.get("modes")},
            script=script))
    train_bug = next((f for f in fwds if f.get("trained") and f["n"] in tr.reached and f.get("modes")
                      and all(v == "eval" for v in f["modes"].values())), None)
    if train_bug is not None:
        layers = ", ".join(train_bug["modes"])
        out.append(make_finding(
            "PT-RUN002", train_bug.get("site"),
            f"{train_bug['mod']} ran {layers} in eval mode in a training forward (its loss was back-propagated) "
            f"at step {train_bug['step']}: call model.train() at the start of each training phase.",
            step=train_bug["step"], evidence={"module": train_bug["mod"], "forward": train_bug["n"],
                                              "modes": train_bug["modes"]}, script=script))
    return out


# ---------------------------------------------------------------- optimizer bookkeeping (PT-RUN003, PT-RUN004)
def check_steps(tr: Trace, script: str) -> list[DoctorFinding]:
    out = []
    # (gradients written to .grad by hand, as torch.func per-sample training does, are new gradients too)
    empty = next((s for s in tr.steps if s.get("window") == 0 and not s.get("assigned")), None)
    if empty is not None:
        no_grads = not empty.get("with_grad")
        what = ("no parameter had a gradient" if no_grads else
                "no backward reached its parameters since its previous step or zero_grad")
        out.append(make_finding(
            "PT-RUN003", empty.get("site"),
            f"optimizer {empty['opt']} stepped at step {empty['k']} with no new gradients ({what}): a second "
            "step() per backward, or zero_grad() between backward() and step().",
            step=empty["k"], evidence={"optimizer": empty["opt"], "optimizer_step": empty["n"],
                                       "params_with_grad": empty.get("with_grad")}, script=script))
    dirty = [s for s in tr.steps if s.get("n", 0) >= 2 and not s.get("cleared") and s.get("window")]
    if dirty:
        s = dirty[0]
        out.append(make_finding(
            "PT-RUN004", s.get("site"),
            f"optimizer {s['opt']} step {s['n']} used gradients carried over from before its previous step (no "
            "zero_grad() between steps): call optimizer.zero_grad() once per step.",
            step=s["k"], evidence={"optimizer": s["opt"], "uncleared_steps": len(dirty)}, script=script))
    return out


# ---------------------------------------------------------------- accumulation (PT-RUN005)
def _epoch_final_steps(tr: Trace) -> set[int]:
    """Global step numbers (k) after which the training loader started a new epoch (or the run ended)."""
    finals = set()
    starts = [e for e in tr.by["iter"] if e["loader"] == tr.train_loader and e["epoch"] > 0]
    for e in starts:
        before = [s["k"] for s in tr.steps if s["t"] < e["t"]]
        if before:
            finals.add(max(before))
    if tr.end and tr.end.get("reason") == "finished" and tr.steps:
        finals.add(tr.steps[-1]["k"])
    return finals


def check_accumulation(tr: Trace, script: str) -> list[DoctorFinding]:
    out = []
    per_opt: dict[int, list[dict]] = defaultdict(list)
    for s in tr.steps:
        per_opt[s["opt"]].append(s)
    finals = _epoch_final_steps(tr)
    boundary_t = [e["t"] for e in tr.by["iter"] if e["loader"] == tr.train_loader and e["epoch"] > 0]
    for opt, steps in per_opt.items():
        windows = [s["window"] for s in steps if s["window"]]
        if len(windows) < 2:
            continue
        k, count = Counter(windows).most_common(1)[0]
        if k < 2 or count < 2:
            continue
        short = next((s for s in steps if 0 < s["window"] < k and s["k"] not in finals), None)
        if short is not None and not boundary_t and short is not steps[0]:
            short = None  # no epoch boundaries seen (hand-made batches): a later short window may be an epoch's
            # flushed tail; only a first window shorter than the rest is surely the off-by-one
        if short is not None:
            out.append(make_finding(
                "PT-RUN005", short.get("site"),
                f"gradient accumulation of {k} micro-batches, but optimizer {opt} stepped after {short['window']} "
                f"at step {short['k']}: the window condition is off by one (count micro-batches from 1, "
                "or test (i + 1) % k == 0).",
                step=short["k"], evidence={"optimizer": opt, "accumulation": k,
                                           "windows": [s["window"] for s in steps][:20]}, script=script))
            continue
        long = next((s for s in steps if s["window"] > k and s["window"] % k), None)
        discards = [d for d in tr.by["discard"] if d["opt"] == opt]
        at_boundary = [d for d in discards if any(abs(d["t"] - t) < _gap(tr, t) for t in boundary_t)]
        pending = (tr.end or {}).get("pending", {}).get(str(opt)) or (tr.end or {}).get("pending", {}).get(opt)
        lost = None
        finished = (tr.end or {}).get("reason") == "finished"
        if at_boundary and len(at_boundary) == len(discards):
            lost = at_boundary[0]["backwards"]
        elif pending and finished and not discards:
            lost = pending
        elif not boundary_t and discards and _periodic_partial_discards(discards, steps, k, pending if finished
                                                                        else None):
            lost = discards[0]["backwards"]  # no DataLoader: epochs of hand-made batches, same story
        if lost:
            out.append(make_finding(
                "PT-RUN005", steps[-1].get("site"),
                f"the last {lost} micro-batch(es) of an epoch were accumulated but never stepped (accumulation of "
                f"{k}): step the optimizer on the last batch of the epoch too.",
                step=steps[-1]["k"], evidence={"optimizer": opt, "accumulation": k, "lost_micro_batches": lost},
                script=script))
        elif long is not None:
            out.append(make_finding(
                "PT-RUN005", long.get("site"),
                f"optimizer {opt} stepped a window of {long['window']} micro-batches at step {long['k']} "
                f"(accumulation of {k}): the previous epoch's partial window was carried into this one.",
                step=long["k"], evidence={"optimizer": opt, "accumulation": k}, script=script))
    return out


def _periodic_partial_discards(discards: list[dict], steps: list[dict], k: int, pending_at_end) -> bool:
    """zero_grad threw away the same partial window (fewer than k micro-batches) again and again, each time after
    several full windows were stepped (an epoch's tail; a GAN's discriminator discards at every step instead), or
    once with the same partial window left pending when the script finished."""
    sizes = {d["backwards"] for d in discards}
    if len(sizes) != 1 or not 0 < next(iter(sizes)) < k:
        return False
    marks = [d["t"] for d in discards]
    for a, b in zip([-1.0, *marks], marks, strict=False):
        if sum(1 for s in steps if a < s["t"] < b) < 2:
            return False
    return len(discards) >= 2 or pending_at_end == discards[0]["backwards"]


def _gap(tr: Trace, t: float) -> float:
    """How close (in seconds) a zero_grad must be to an epoch start to belong to it: a quarter of a step."""
    dts = [s["dt"] for s in tr.steps if s.get("dt")]
    return max(0.05, (median(dts) if dts else 0.2) * 0.5)


# ---------------------------------------------------------------- parameters (PT-RUN006, 007, 008)
def check_params(tr: Trace, script: str) -> list[DoctorFinding]:
    out = []
    reports = tr.by["params"]
    if not reports or not tr.steps:
        return out
    last = reports[-1]  # the latest report (events are in time order)
    opt_sites = {e["opt"]: e.get("site") for e in tr.by["opt"]}
    for o in last["optimizers"]:
        # only parameters of modules that ran: a tensor in no forwarded module was replaced (PT-RUN007's story)
        never = [n for n in o.get("never", []) if not n.startswith("<tensor")]
        if never and o.get("steps", 0) >= 2 and o["n_never"] < o["n_params"]:
            names = ", ".join(never[:6])
            out.append(make_finding(
                "PT-RUN006", opt_sites.get(o["opt"]),
                f"{len(never)} trainable parameter tensor(s) of optimizer {o['opt']} never received a gradient in "
                f"{o['steps']} steps ({names}): an unused layer, or a layer cut from the graph (detach, a branch "
                "whose loss is not added).",
                step=last["step"], evidence={"optimizer": o["opt"], "params": never[:20]}, script=script))
        if o.get("n_frozen"):
            names = ", ".join(o["frozen"][:6])
            out.append(make_finding(
                "PT-RUN008", opt_sites.get(o["opt"]),
                f"optimizer {o['opt']} holds {o['n_frozen']} tensor(s) with requires_grad=False ({names}): frozen "
                "by mistake, or pass only trainable parameters (p for p in model.parameters() if p.requires_grad).",
                step=last["step"], evidence={"optimizer": o["opt"], "params": o["frozen"][:20]}, script=script))
    orphans = max(reports, key=lambda r: r.get("n_orphans", 0))
    if orphans.get("n_orphans"):
        names = ", ".join(orphans["orphans"][:6])
        out.append(make_finding(
            "PT-RUN007", opt_sites.get(0),
            f"{orphans['n_orphans']} parameter tensor(s) receive gradients but are in no optimizer ({names}): a "
            "layer replaced after the optimizer was built? Build the optimizer after the model is final.",
            step=orphans["step"], evidence={"params": orphans["orphans"][:20]}, script=script))
    return out


def _per_opt(tr: Trace) -> dict[int, list[dict]]:
    per: dict[int, list[dict]] = defaultdict(list)
    for s in tr.steps:
        per[s["opt"]].append(s)
    return per


# ---------------------------------------------------------------- numerics (PT-RUN009, 010, 011, 012)
def check_nonfinite(tr: Trace, script: str) -> list[DoctorFinding]:
    if not tr.by["nonfinite"]:
        return []
    e = tr.by["nonfinite"][0]
    culprit = next((b["culprit"] for b in tr.by["bwd"] if b.get("culprit")), None) or e.get("module")
    where = f" produced by {culprit}" if culprit else ""
    hint = ""
    const = _constant_columns(tr, script)
    if const:  # a constant input column divided by its (zero) std is the classic source: say so here
        hint = f" Note: {const[0].message.split(':')[0]}."
    return [make_finding(
        "PT-RUN009", e.get("site"),
        f"first non-finite {e['what']} at step {e['step']}{where}: look for log/sqrt/division of zero or "
        f"negative values, NaN in the data, an LR too large, or fp16 overflow.{hint}",
        step=e["step"], evidence={"what": e["what"], "module": culprit}, script=script)]


def _loss_series(tr: Trace) -> dict[tuple, list[float]]:
    series: dict[tuple, list[float]] = defaultdict(list)
    for b in tr.by["bwd"]:
        if b.get("loss") is not None:
            series[tuple(b.get("site") or ())].append(b["loss"])
    return series


def check_loss(tr: Trace, script: str) -> list[DoctorFinding]:
    if tr.by["nonfinite"]:
        return []  # a loss that became NaN / inf is reported as such (PT-RUN009)
    out = []
    for site, losses in _loss_series(tr).items():
        if len(losses) < MIN_LOSS_POINTS or not all(math.isfinite(x) for x in losses):
            continue
        first = losses[0]
        if all(abs(x - first) <= FLAT_RELATIVE * max(1.0, abs(first)) for x in losses):
            out.append(make_finding(
                "PT-RUN010", list(site) or None,
                f"the loss did not move at all over {len(losses)} backward passes (stays at {first:.6g}): nothing "
                "is being trained (loss detached, LR 0, or the optimizer holds other parameters).",
                evidence={"losses": losses[:10]}, script=script))
            continue
        q = max(2, len(losses) // 4)
        head, tail = sum(losses[:q]) / q, sum(losses[-q:]) / q
        exploding = head > 0 and tail > DIVERGE_FACTOR * head
        # a loss that is negative and keeps growing in magnitude (a sign flip: maximising the error)
        running_away = (max(losses) < 0 and tail < NEGATIVE_RUNAWAY * head and min(losses[-q:]) < min(losses[:q])
                        and _mostly_decreasing(losses))
        if exploding or running_away:
            ratio = _ratio_hint(tr)
            out.append(make_finding(
                "PT-RUN010", list(site) or None,
                f"the loss is diverging: {head:.4g} on average over the first {q} backward passes, {tail:.4g} over "
                f"the last {q}{ratio}: lower the learning rate, check the loss's reduction and sign, clip "
                "gradients.", evidence={"first": losses[:5], "last": losses[-5:]}, script=script))
    for opt, steps in _per_opt(tr).items():
        ratios = [r for s in steps for r in s.get("ratios") or []]
        if len(steps) >= MIN_RATIO_STEPS and ratios and max(ratios) == 0.0 and not out:
            lr = (steps[-1].get("lr") or [[None]])[0][0]
            out.append(make_finding(
                "PT-RUN010", next((e.get("site") for e in tr.by["opt"] if e["opt"] == opt), steps[0].get("site")),
                f"optimizer {opt} stepped {len(steps)} times but the weights never changed (lr={lr}): the loss "
                "cannot move. An LR of 0 (integer division?) or every update masked.",
                step=steps[min(1, len(steps) - 1)]["k"], evidence={"optimizer": opt, "lr": lr}, script=script))
    return out


def _mostly_decreasing(xs: list[float]) -> bool:
    return sum(1 for a, b in zip(xs, xs[1:], strict=False) if b < a) >= 0.6 * (len(xs) - 1)


def _ratio_hint(tr: Trace) -> str:
    r = _early_ratios(tr).get(0)
    return f"; the weights change by {r:.3g} of their norm per step" if r is not None else ""


def _early_ratios(tr: Trace) -> dict[int, float]:
    """Per optimizer: the median update-to-weight ratio of steps 2-5 (Adam's first step is sign-like and
    atypical; later steps of a run with far too large an LR shrink as the weights blow up), or the largest
    ratio of steps 1-5 when a step changed the weights by more than their own norm."""
    out = {}
    for opt, steps in _per_opt(tr).items():
        first = [median(s["ratios"]) for s in steps[:5] if s.get("ratios")]
        first = [r for r in first if math.isfinite(r)]
        per_step = first[1:]
        if len(per_step) >= MIN_RATIO_STEPS:
            out[opt] = max(first) if max(first) > RATIO_ONE_STEP else median(per_step)
    return out


def check_update_ratio(tr: Trace, script: str) -> list[DoctorFinding]:
    out = []
    if tr.by["nonfinite"] or check_loss(tr, script):
        return out  # a diverging / NaN loss is the finding; its message gives the ratio
    early = _early_ratios(tr)
    for opt, steps in _per_opt(tr).items():
        if opt not in early:
            continue
        ratio = early[opt]
        per_step = [median(s["ratios"]) for s in steps if s.get("ratios")]
        lr = (steps[0].get("lr") or [[None]])[0][0]
        cls = next((e["cls"] for e in tr.by["opt"] if e["opt"] == opt), "optimizer")
        site = next((e.get("site") for e in tr.by["opt"] if e["opt"] == opt), steps[0].get("site"))
        if ratio > RATIO_TOO_LARGE:
            out.append(make_finding(
                "PT-RUN011", site,
                f"{cls} (lr={lr:g}) changes the weights by {ratio:.3g} of their norm per step (usual: ~1e-3): the "
                "learning rate is far too large for this optimizer.",
                step=steps[min(1, len(steps) - 1)]["k"], evidence={"optimizer": opt, "median_ratio": ratio,
                                                                   "ratios": per_step[:10], "lr": lr},
                script=script))
        elif 0 < ratio < RATIO_TOO_SMALL and not any(c.get("scaled") for c in tr.by["clip"]):
            # (clipping GradScaler-scaled gradients shrinks every update: PT-RUN012 is the cause then)
            out.append(make_finding(
                "PT-RUN011", site,
                f"{cls} (lr={lr:g}) changes the weights by only {ratio:.3g} of their norm per step (usual: ~1e-3): "
                "the learning rate is far too small for this optimizer.",
                step=steps[min(1, len(steps) - 1)]["k"], evidence={"optimizer": opt, "median_ratio": ratio,
                                                                   "ratios": per_step[:10], "lr": lr},
                script=script))
    return out


def check_clip(tr: Trace, script: str) -> list[DoctorFinding]:
    bad = next((c for c in tr.by["clip"] if c.get("scaled")), None)
    if bad is None:
        return []
    return [make_finding(
        "PT-RUN012", bad.get("site"),
        f"clip_grad_norm_ ran on GradScaler-scaled gradients at step {bad['step']} (norm {bad['norm']:.4g} vs "
        f"max_norm {bad['max']:g}): call scaler.unscale_(optimizer) before clipping.",
        step=bad["step"], evidence={"norm": bad["norm"], "max_norm": bad["max"]}, script=script)]


# ---------------------------------------------------------------- data (PT-RUN013, 014, 015, 016)
def check_loader_order(tr: Trace, script: str) -> list[DoctorFinding]:
    loader = tr.train_loader
    if loader is None:
        return []
    length = tr.loader_len(loader)
    if length is not None and length < 2:
        return []
    first = next((e for e in tr.by["iter"] if e["loader"] == loader), {})
    stream = first.get("sampler") == "_InfiniteConstantSampler"
    epochs: dict[int, list] = defaultdict(list)
    for b in tr.by["batch"]:
        if b["loader"] == loader and "fp" in b:
            # an IterableDataset has no sampler indices: compare what it streamed (the first batches' content)
            epochs[b["epoch"]].append(b["fp"] if stream else b.get("idx", b["fp"]))
    keys = sorted(epochs)
    for a, b in zip(keys, keys[1:], strict=False):
        n = min(len(epochs[a]), len(epochs[b]))
        if n >= 2 and epochs[a][:n] == epochs[b][:n]:
            it = next((e for e in tr.by["iter"] if e["loader"] == loader and e["epoch"] == b), None)
            sampler = (it or {}).get("sampler")
            hint = ("shuffle=False" if sampler == "SequentialSampler" else
                    "an IterableDataset streaming the same samples each epoch: its generator re-seeded in __iter__?"
                    if stream else "a generator / sampler reseeded each epoch")
            return [make_finding(
                "PT-RUN013", (it or {}).get("site"),
                f"the training loader served epoch {b} in the same order as epoch {a} ({hint}; sampler {sampler}): "
                "shuffle with one generator for the whole run (DistributedSampler: call set_epoch).",
                step=(it or {}).get("step"), evidence={"epochs": [a, b], "sampler": sampler, "batches_compared": n},
                script=script)]
    return []


def check_same_batch(tr: Trace, script: str) -> list[DoctorFinding]:
    if tr.train_loader is None and not tr.by["batch"]:
        return []  # full-batch training on tensors (no loader at all) feeds the same input by design
    lengths = [e.get("len") for e in tr.by["iter"]]
    if lengths and all(n is not None and n < 2 for n in lengths):
        return []
    first_fp: dict[int, tuple] = {}
    for f in tr.by["fwd"]:
        if f.get("trained") and f["n"] in tr.reached and f.get("fp") is not None and f["step"] not in first_fp:
            first_fp[f["step"]] = (f["fp"], f.get("site"), f["mod"])
    run, prev = 0, None
    for step in sorted(first_fp):
        fp = first_fp[step][0]
        run = run + 1 if fp == prev else 1
        prev = fp
        if run >= SAME_BATCH_STEPS:
            site = first_fp[step][1]
            return [make_finding(
                "PT-RUN014", site,
                f"{first_fp[step][2]} was trained on the identical input batch for {run} steps in a row (up to step "
                f"{step}): the batch is fetched once (next(iter(loader)) outside the loop, or the loop variable is "
                "not used).", step=step, evidence={"steps": run}, script=script)]
    return []


def check_constant_columns(tr: Trace, script: str) -> list[DoctorFinding]:
    found = _constant_columns(tr, script)
    if tr.by["nonfinite"]:  # reported inside PT-RUN009 as its likely cause
        found = [f for f in found if "label" in f.message]
    return found[:1]


def _constant_columns(tr: Trace, script: str) -> list[DoctorFinding]:
    loader = tr.train_loader
    if loader is None:
        return []
    agg: dict[tuple, dict] = {}
    for b in tr.by["batch"]:
        if b["loader"] != loader:
            continue
        for c in b.get("cols") or []:
            key = (c["pos"], c["kind"])
            a = agg.setdefault(key, {"n": 0, "min": c["min"], "max": c["max"], "width": c.get("width")})
            a["n"] += c["n"]
            if c["kind"] == "label":
                a["min"], a["max"] = min(a["min"], c["min"]), max(a["max"], c["max"])
            elif len(c["min"]) == len(a["min"]):
                a["min"] = [min(x, y) for x, y in zip(a["min"], c["min"], strict=True)]
                a["max"] = [max(x, y) for x, y in zip(a["max"], c["max"], strict=True)]
    it = next((e for e in tr.by["iter"] if e["loader"] == loader), {})
    out = []
    for (pos, kind), a in sorted(agg.items()):
        if a["n"] < MIN_LABELS:
            continue
        if kind == "label" and a["min"] == a["max"]:
            out.append(make_finding(
                "PT-RUN015", it.get("site"),
                f"batch element {pos} (the labels?) is constant ({a['min']:g}) over the first {a['n']} samples of "
                "the training loader: a wrong label column, or data sorted by class with shuffle=False.",
                evidence={"position": pos, "value": a["min"], "samples": a["n"]}, script=script))
        elif kind == "features":
            const = [j for j, (lo, hi) in enumerate(zip(a["min"], a["max"], strict=True)) if lo == hi]
            if const and len(const) < len(a["min"]):
                out.append(make_finding(
                    "PT-RUN015", it.get("site"),
                    f"input feature column(s) {const[:8]} of batch element {pos} are constant over the first "
                    f"{a['n']} samples of the training loader: a broken feature or a normalisation that divides "
                    "by zero.", evidence={"position": pos, "columns": const[:20], "samples": a["n"]}, script=script))
    return out


def check_input_bound(tr: Trace, script: str) -> list[DoctorFinding]:
    # steps that waited for an epoch's first batch pay the workers' start-up: reported apart, not counted here
    epoch_starts = {b["step"] + 1 for b in tr.by["batch"] if b.get("i") == 0}
    steps = [s for s in tr.steps[1:] if s.get("dt") and s["k"] not in epoch_starts]
    if len(steps) < 3:
        return []
    it = next((e for e in tr.by["iter"] if e["loader"] == tr.train_loader), {})
    # without workers the loader runs on the main thread: its CPU time is the cost, and a machine loaded by other
    # jobs does not inflate it the way it inflates wall time (a correct tiny script read as input-bound under load)
    cpu = not it.get("workers") and all(s.get("dt_cpu") is not None for s in steps)
    wait = sum((s.get("wait_cpu") if cpu else s.get("wait")) or 0 for s in steps)
    total = sum(s["dt_cpu"] if cpu else s["dt"] for s in steps)
    if total <= 0:
        return []
    share = wait / total
    limit = INPUT_BOUND_SHARE_WORKERS if it.get("workers") else INPUT_BOUND_SHARE
    if share > limit and wait / len(steps) > (INPUT_BOUND_MIN_CPU_WAIT_S if cpu else INPUT_BOUND_MIN_WAIT_S):
        return [make_finding(
            "PT-RUN016", it.get("site"),
            f"{share:.0%} of the step time is spent waiting for data ({1000 * wait / len(steps):.1f} ms per step, "
            f"num_workers={it.get('workers')}): use DataLoader workers, pin_memory, or move the work out of "
            "__getitem__.", evidence={"share": round(share, 3), "wait_ms_per_step": 1000 * wait / len(steps),
                                      "workers": it.get("workers")}, script=script)]
    return []


# ---------------------------------------------------------------- schedule (PT-RUN017)
_HORIZON = {"CosineAnnealingLR": "T_max", "StepLR": "step_size", "MultiStepLR": "milestones",
            "PolynomialLR": "total_iters"}


def check_lr_schedule(tr: Trace, script: str) -> list[DoctorFinding]:
    length = tr.loader_len(tr.train_loader)
    if not length or length < 4:
        return []
    steps = [s for s in tr.steps if s["opt"] == 0]
    first_epoch_steps = {s["k"] for s in steps[:length]}
    scheds = [e for e in tr.by["sched"] if e["step"] in first_epoch_steps or e["step"] < length]
    # Under gradient accumulation one optimizer step takes several batches: an epoch is fewer steps.
    served = [b.get("step") for b in tr.by["batch"] if b["loader"] == tr.train_loader]
    per_step = max(1.0, len(served) / max(1, len(set(served))))
    epoch_steps = length / per_step
    if len(scheds) >= 2:
        e = scheds[0]
        key = _HORIZON.get(e["cls"])
        value = e.get("config", {}).get(key) if key else None
        horizon = max(value) if isinstance(value, list) and value else value
        if isinstance(horizon, (int, float)) and horizon < epoch_steps:
            return [make_finding(
                "PT-RUN017", e.get("site"),
                f"{e['cls']} is stepped every batch but its {key}={horizon} is smaller than one epoch ({length} "
                "batches): it was sized in epochs. Step it once per epoch, or size it in steps.",
                step=e["step"], evidence={"scheduler": e["cls"], key: value, "batches_per_epoch": length},
                script=script)]
    # stepped once per epoch (or less): a schedule stepped every batch is ramping as planned, however long its
    # warm-up; the doctor cannot see the end of the run, so only a per-epoch schedule is judged by its LR
    per_epoch = bool(tr.by["sched"]) and 2 * len(tr.by["sched"]) <= len(steps)
    cycle = next((e for e in tr.by["sched"] if e["cls"] == "OneCycleLR"
                  and (e.get("config") or {}).get("steps_per_epoch", 1) > 1), None)
    if per_epoch and cycle is not None and len(tr.by["sched"]) >= 2:
        cfg = cycle["config"]
        total = cfg.get("total_steps")
        return [make_finding(
            "PT-RUN017", cycle.get("site"),
            f"OneCycleLR is sized in batches (steps_per_epoch={cfg['steps_per_epoch']}, total_steps={total}) but "
            f"stepped once per epoch ({len(tr.by['sched'])} scheduler steps in {len(steps)} optimizer steps): its "
            f"warm-up never ends within the run and the LR stays near max_lr / div_factor. Call scheduler.step() "
            "after every optimizer.step().",
            step=cycle["step"], evidence={"scheduler": "OneCycleLR", **cfg, "scheduler_steps": len(tr.by["sched"]),
                                          "optimizer_steps": len(steps)}, script=script)]
    applied = [(s["lr"][0][0], s["lr"][0][1]) for s in steps if s.get("lr") and s["lr"][0][0] is not None]
    if (per_epoch and len(applied) > length and all(base for _, base in applied)
            and all(lr <= WARMUP_STUCK * base for lr, base in applied)):
        e = tr.by["sched"][0]
        return [make_finding(
            "PT-RUN017", e.get("site"),
            f"for {len(applied)} steps ({len(applied) / length:.1f} epochs) the applied LR stayed at most "
            f"{max(lr / base for lr, base in applied):.1%} of its target {applied[0][1]:g}: the warm-up never ends "
            f"({e['cls']} sized in steps but stepped once per epoch?).",
            step=steps[min(length, len(steps) - 1)]["k"],
            evidence={"lrs": [lr for lr, _ in applied[:20]], "initial_lr": applied[0][1]}, script=script)]
    ramp = _warmup_outlasts_run(tr, steps, applied, script)
    if ramp:
        return ramp
    lrs = [(s["k"], s["lr"][0][0]) for s in steps[:length] if s.get("lr") and s["lr"][0][0] is not None]
    if len(lrs) < 3:
        return []
    peak_i = max(range(len(lrs)), key=lambda i: lrs[i][1])
    peak = lrs[peak_i][1]
    for i in range(peak_i + 1, len(lrs)):
        k, lr = lrs[i]
        if peak > 0 and lr < LR_COLLAPSE * peak and i < length - 1:
            site = scheds[0].get("site") if scheds else steps[0].get("site")
            return [make_finding(
                "PT-RUN017", site,
                f"the learning rate applied fell from {peak:.3g} to {lr:.3g} at step {k}, inside the first epoch "
                f"({length} batches): a scheduler sized in epochs but stepped per batch?",
                step=k, evidence={"lrs": [x[1] for x in lrs[:20]], "batches_per_epoch": length}, script=script)]
    return []


def _warmup_outlasts_run(tr: Trace, steps: list[dict], applied: list[tuple], script: str) -> list[DoctorFinding]:
    """The script finished on its own (the whole planned run was seen) while its warm-up was still ramping: the
    applied LR rose at nearly every step and ended below WARMUP_UNFINISHED of its target (a warm-up sized for a
    longer run, or for another dataset). A run the doctor stopped says nothing about its end: not judged."""
    if (tr.end or {}).get("reason") != "finished" or len(applied) < MIN_RAMP_STEPS or not tr.by["sched"]:
        return []
    lrs = [lr for lr, _ in applied]
    base = applied[0][1]
    rising = sum(1 for a, b in zip(lrs, lrs[1:], strict=False) if b > a)
    if not base or any(b < a for a, b in zip(lrs, lrs[1:], strict=False)) or rising < 0.8 * (len(lrs) - 1):
        return []
    if lrs[-1] >= WARMUP_UNFINISHED * base:
        return []
    e = tr.by["sched"][0]
    return [make_finding(
        "PT-RUN017", e.get("site"),
        f"the run finished after {len(lrs)} optimizer steps while the warm-up was still ramping: the applied LR "
        f"rose at every step and ended at {lrs[-1]:.3g}, {lrs[-1] / base:.1%} of its target {base:g}. The warm-up "
        "is sized for a longer run: size it from the real number of steps (epochs * len(loader)).",
        step=steps[-1]["k"], evidence={"lrs": lrs[:20], "target_lr": base, "steps": len(lrs)}, script=script)]


# ---------------------------------------------------------------- performance (PT-RUN018, 019)
def check_syncs(tr: Trace, script: str) -> list[DoctorFinding]:
    counts = [s.get("syncs", 0) for s in tr.steps[1:]]
    if len(counts) < 3:
        return []
    per_step = median(counts)
    if per_step <= SYNCS_PER_STEP:
        return []
    note = "" if tr.cuda else " (CPU run: harmless here, a stall on a GPU)"
    return [make_finding(
        "PT-RUN018", tr.steps[0].get("site"),
        f"{per_step:g} host-device syncs per training step (.item(), .cpu(), .tolist(), printing tensors){note}: "
        "accumulate metrics on the device and sync once per log interval.",
        step=tr.steps[1]["k"], severity=Severity.medium if tr.cuda else Severity.info,
        evidence={"syncs_per_step": per_step}, script=script)]


def check_recompiles(tr: Trace, script: str) -> list[DoctorFinding]:
    stats = (tr.end or {}).get("compile") or {}
    limit_hits = stats.get("recompile_limit_hits", 0)
    if limit_hits:
        graphs = (stats.get("stats") or {}).get("unique_graphs", 0)
        site = next((f.get("site") for f in tr.by["fwd"] if f.get("mod") == "OptimizedModule"), None)
        return [make_finding(
            "PT-RUN019", site,
            f"torch.compile hit its recompile limit ({graphs} graphs in {tr.total_steps} steps): it recompiles for "
            "changing shapes or Python values (pad to fixed shapes, mark_dynamic, or dynamic=True).",
            evidence={"unique_graphs": graphs, "recompile_limit_hits": limit_hits}, script=script)]
    return []
