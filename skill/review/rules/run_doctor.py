"""PT-RUN001..PT-RUN021: the training doctor's runtime findings, documented in the reviewer's catalogue.

These rules are observed by running the script (`pytorch-patterns doctor train.py`), never by reading it: they
are `runtime = True`, opt-in (so `review` never runs them by default) and their `check` reports nothing.
`pytorch-patterns rules PT-RUN001` explains each one; the doctor emits findings with these codes and names.
Their `bad` examples show the bug (the static reviewer may or may not see it); their `good` examples are the
corrected code and are reviewed statically like every rule doc's.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..analysis import Context
from ..models import Severity
from ..rule import Diagnostic, Rule


class RuntimeRule(Rule):
    abstract = True
    runtime = True  # seen by the doctor at run time; the static engine finds nothing for it
    default_enabled = False

    def check(self, ctx: Context) -> Iterable[Diagnostic]:
        return ()


class EvalInTrainMode(RuntimeRule):
    code = "PT-RUN001"
    name = "eval-in-train-mode"
    severity = Severity.high
    summary = "dropout / batch-norm ran in training mode during an evaluation forward"
    why = ("The doctor saw a forward of a trained model under no_grad / inference_mode (or whose output never "
           "reached a backward) with dropout active or batch-norm using batch statistics and updating its running "
           "averages. Validation numbers are noisy and pessimistic, and batch-norm's statistics drift with every "
           "evaluation batch. Mode often travels through a flag or a phase name, where no reader sees it.")
    fix_text = "Call `model.eval()` before evaluating and `model.train()` before the next training step."
    bad = (
        "def evaluate(model, loader):\n"
        "    with torch.no_grad():\n"
        "        return sum(criterion(model(x), y).item() for x, y in loader)\n"
    )
    good = (
        "def evaluate(model, loader):\n"
        "    model.eval()\n"
        "    with torch.no_grad():\n"
        "        total = sum(criterion(model(x), y).item() for x, y in loader)\n"
        "    model.train()\n"
        "    return total\n"
    )


class TrainInEvalMode(RuntimeRule):
    code = "PT-RUN002"
    name = "train-in-eval-mode"
    severity = Severity.high
    summary = "dropout / batch-norm ran in eval mode during a training forward"
    why = ("A forward whose loss was back-propagated ran every dropout layer disabled and batch-norm with frozen "
           "running statistics: a validation (or a sanity prediction) switched the model to eval mode and nothing "
           "switched it back. Regularisation is off and batch-norm's statistics never adapt.")
    fix_text = "Call `model.train()` at the start of every training phase (each epoch, after every validation)."
    bad = (
        "for epoch in range(epochs):\n"
        "    for x, y in train_loader:\n"
        "        train_step(model, x, y)\n"
        "    model.eval()\n"
        "    validate(model)\n"
    )
    good = (
        "for epoch in range(epochs):\n"
        "    model.train()\n"
        "    for x, y in train_loader:\n"
        "        train_step(model, x, y)\n"
        "    model.eval()\n"
        "    validate(model)\n"
    )


class StepWithoutNewGrads(RuntimeRule):
    code = "PT-RUN003"
    name = "step-without-new-grads"
    severity = Severity.high
    summary = "an optimizer stepped with no new gradients since its previous step"
    why = ("The doctor counts, per optimizer, the backward passes that reached its parameters between two steps. "
           "A step with none re-applies momentum and weight decay on stale state: a second `step()` hidden in a "
           "helper or a callback, an end-of-epoch 'flush', or `zero_grad()` between `backward()` and `step()`.")
    fix_text = "Step each optimizer exactly once per (accumulated) backward; clear gradients only after the step."
    bad = (
        "def train_step(model, optimizer, x, y):\n"
        "    optimizer.zero_grad()\n"
        "    criterion(model(x), y).backward()\n"
        "    optimizer.step()\n"
        "\n"
        "for x, y in loader:\n"
        "    train_step(model, optimizer, x, y)\n"
        "    optimizer.step()\n"
    )
    good = (
        "def train_step(model, optimizer, x, y):\n"
        "    optimizer.zero_grad()\n"
        "    criterion(model(x), y).backward()\n"
        "    optimizer.step()\n"
        "\n"
        "for x, y in loader:\n"
        "    train_step(model, optimizer, x, y)\n"
    )


class GradsCarriedOver(RuntimeRule):
    code = "PT-RUN004"
    name = "grads-carried-over"
    severity = Severity.high
    summary = "an optimizer step used gradients left over from before its previous step"
    why = ("`backward()` adds into `.grad`. The doctor saw a step whose parameters' gradients were neither "
           "zeroed nor set to None since the previous step (no zero_grad of that optimizer or its module): each "
           "step applies the sum of all earlier gradients, so the effective LR grows every step. With two "
           "optimizers, zeroing one twice and the other never is the usual copy-paste form.")
    fix_text = "Call `optimizer.zero_grad(set_to_none=True)` once per step for every optimizer."
    bad = (
        "optimizer.zero_grad()\n"
        "for x, y in loader:\n"
        "    criterion(model(x), y).backward()\n"
        "    optimizer.step()\n"
    )
    good = (
        "for x, y in loader:\n"
        "    optimizer.zero_grad(set_to_none=True)\n"
        "    criterion(model(x), y).backward()\n"
        "    optimizer.step()\n"
    )


class AccumulationMisaligned(RuntimeRule):
    code = "PT-RUN005"
    name = "accumulation-misaligned"
    severity = Severity.medium
    summary = "gradient-accumulation windows of the wrong size, or a final partial window never stepped"
    why = ("With accumulation over k micro-batches the doctor sees the number of backward passes behind each "
           "step. `i % k == 0` with i from 0 steps after the first micro-batch; a flush test that can never be "
           "true (`i == len(loader)`) leaves the last micro-batches of every epoch accumulated and then thrown "
           "away by the next zero_grad (or carried into the next epoch's first window).")
    fix_text = "Step when `(i + 1) % k == 0 or i + 1 == len(loader)`, and divide the loss by the window's size."
    bad = (
        "for i, (x, y) in enumerate(loader):\n"
        "    (criterion(model(x), y) / k).backward()\n"
        "    if i % k == 0:\n"
        "        optimizer.step()\n"
        "        optimizer.zero_grad()\n"
    )
    good = (
        "for i, (x, y) in enumerate(loader):\n"
        "    (criterion(model(x), y) / k).backward()\n"
        "    if (i + 1) % k == 0 or i + 1 == len(loader):\n"
        "        optimizer.step()\n"
        "        optimizer.zero_grad()\n"
    )


class ParamNeverGetsGrad(RuntimeRule):
    code = "PT-RUN006"
    name = "param-never-gets-grad"
    severity = Severity.medium
    summary = "trainable parameters held by an optimizer never received a gradient"
    why = ("Post-accumulate-grad hooks show which parameters ever got a gradient. A trainable tensor of a module "
           "that ran but never gets one is cut from the loss: a `.detach()` in forward, an auxiliary loss computed "
           "but not added, a layer whose output is overwritten. It silently stays at its initialisation.")
    fix_text = ("Connect the layer to the loss (remove the detach, add the auxiliary loss), or delete it / freeze "
                "it on purpose and leave it out of the optimizer.")
    bad = (
        "def forward(self, x):\n"
        "    features = self.encoder(x).detach()\n"
        "    return self.head(features)\n"
    )
    good = (
        "def forward(self, x):\n"
        "    features = self.encoder(x)\n"
        "    return self.head(features)\n"
    )


class ParamNotOptimized(RuntimeRule):
    code = "PT-RUN007"
    name = "param-not-optimized"
    severity = Severity.high
    summary = "parameters receive gradients but are in no optimizer, so they never change"
    why = ("The doctor lists parameters of the trained modules (and of every layer called in their forward) that "
           "get gradients but belong to no optimizer: a head replaced after the optimizer was built, a param group "
           "that forgets a part of the model, layers kept in a plain Python list instead of nn.ModuleList.")
    fix_text = ("Build the optimizer after the model is final, from `model.parameters()`; register sub-layers in "
                "nn.ModuleList / nn.ModuleDict.")
    bad = (
        "optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)\n"
        "model.fc = nn.Linear(512, num_classes)\n"
    )
    good = (
        "model.fc = nn.Linear(512, num_classes)\n"
        "optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)\n"
    )


class FrozenParamInOptimizer(RuntimeRule):
    code = "PT-RUN008"
    name = "frozen-param-in-optimizer"
    severity = Severity.low
    summary = "an optimizer's param groups hold tensors with requires_grad=False"
    why = ("Either the layer was frozen by mistake (it was meant to train), or it is frozen on purpose and still "
           "handed to the optimizer: with momentum or weight decay and `zero_grad(set_to_none=False)` the "
           "'frozen' tensor keeps moving, and its optimizer state wastes memory.")
    fix_text = ("Pass only trainable tensors: `[p for p in model.parameters() if p.requires_grad]`, rebuilt (or "
                "a new param group) when the freezing changes.")
    bad = (
        "model.embedding.weight.requires_grad_(False)\n"
        "optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)\n"
    )
    good = (
        "model.embedding.weight.requires_grad_(False)\n"
        "optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)\n"
    )


class NonFinite(RuntimeRule):
    code = "PT-RUN009"
    name = "non-finite"
    severity = Severity.high
    summary = "the first non-finite loss, gradient or activation, and the module that produced it"
    why = ("Once a NaN or inf appears, every weight it touches becomes NaN and training is over, usually long "
           "before anyone looks. The doctor checks each loss, the gradient norm and each top-level output, and "
           "after the first non-finite value checks every layer's output to name the first module whose inputs "
           "were finite and whose output was not (a division by a zero std, log of 0, NaN in the data).")
    fix_text = ("Fix the source: impute missing values, add an epsilon to divisions and logs, lower the LR, "
                "use bf16 or a GradScaler instead of raw fp16.")
    bad = (
        "def forward(self, x):\n"
        "    return (x - x.mean(0)) / x.std(0)\n"
    )
    good = (
        "def forward(self, x):\n"
        "    return (x - x.mean(0)) / (x.std(0) + 1e-5)\n"
    )


class LossDivergingOrFlat(RuntimeRule):
    code = "PT-RUN010"
    name = "loss-diverging-or-flat"
    severity = Severity.high
    summary = "the loss explodes (or runs away negative), or cannot move at all"
    why = ("Over the first steps a healthy loss wanders down. Ten times its starting value within a few steps "
           "is divergence (an effective step far too large: a 'sum' reduction, a flipped sign); a loss whose "
           "weights never change (lr computed as 0 by integer division, every update masked) cannot move at all.")
    fix_text = "Check the loss's reduction and sign, the learning rate's value and type, and clip gradients."
    bad = (
        "criterion = nn.MSELoss(reduction=\"sum\")\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    )
    good = (
        "criterion = nn.MSELoss()\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n"
    )


class UpdateRatioOutOfRange(RuntimeRule):
    code = "PT-RUN011"
    name = "update-ratio-out-of-range"
    severity = Severity.medium
    summary = "the update-to-weight ratio per step is far outside the usual ~1e-3"
    why = ("||dW|| / ||W|| per step says whether the LR suits its optimizer: Adam moves every weight by about lr "
           "per step whatever the gradient's scale, so an SGD-sized lr (0.1-1) rewrites the weights each step, "
           "and 1e-7 moves nothing in any reasonable number of steps. The doctor measures it on a few of the "
           "largest tensors each step.")
    fix_text = "Use an LR suited to the optimizer (Adam/AdamW: 1e-4..3e-3; SGD: 1e-3..0.1 with momentum)."
    bad = "optimizer = torch.optim.Adam(model.parameters(), lr=0.5)\n"
    good = "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n"


class ClipOnScaledGrads(RuntimeRule):
    code = "PT-RUN012"
    name = "clip-on-scaled-grads"
    severity = Severity.high
    summary = "gradient clipping ran on GradScaler-scaled gradients (no unscale_ first)"
    why = ("After `scaler.scale(loss).backward()` the gradients are multiplied by the loss scale (65536 at "
           "first), so `clip_grad_norm_(..., 1.0)` clips them to a tiny fraction of the intended norm, or clips "
           "every step. The doctor also reports how often clipping was active and the median norm.")
    fix_text = "Call `scaler.unscale_(optimizer)` right before `clip_grad_norm_`."
    bad = (
        "scaler.scale(loss).backward()\n"
        "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "scaler.step(optimizer)\n"
        "scaler.update()\n"
    )
    good = (
        "scaler.scale(loss).backward()\n"
        "scaler.unscale_(optimizer)\n"
        "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
        "scaler.step(optimizer)\n"
        "scaler.update()\n"
    )


class LoaderOrderRepeats(RuntimeRule):
    code = "PT-RUN013"
    name = "loader-order-repeats"
    severity = Severity.medium
    summary = "the training loader serves the same order every epoch"
    why = ("The doctor fingerprints the sampler's indices of the first batches of every epoch. The same order "
           "each epoch comes from shuffle=False on the training loader, a generator re-created with the same "
           "seed every epoch, `torch.manual_seed` inside the epoch loop, or a DistributedSampler without "
           "set_epoch: the model sees the same sequence of batches and generalises worse.")
    fix_text = ("shuffle=True with one generator for the whole run; seed once at start-up; call "
                "`sampler.set_epoch(epoch)` for DistributedSampler.")
    bad = (
        "for epoch in range(epochs):\n"
        "    torch.manual_seed(0)\n"
        "    for x, y in train_loader:\n"
        "        train_step(x, y)\n"
    )
    good = (
        "torch.manual_seed(0)\n"
        "for epoch in range(epochs):\n"
        "    for x, y in train_loader:\n"
        "        train_step(x, y)\n"
    )


class SameBatchRepeated(RuntimeRule):
    code = "PT-RUN014"
    name = "same-batch-repeated"
    severity = Severity.high
    summary = "the model is trained on the identical input batch step after step"
    why = ("Input fingerprints of the training forwards repeat for several consecutive steps while a loader with "
           "more batches exists: `next(iter(loader))` without shuffling inside the loop, a batch fetched once "
           "before the loop, or a loop variable that is not the one fed to the model. The model memorises one "
           "batch and the loss looks great.")
    fix_text = "Iterate the loader (`for x, y in loader:`) and feed the loop's variables to the model."
    bad = (
        "x, y = next(iter(loader))\n"
        "for step in range(steps):\n"
        "    train_step(x, y)\n"
    )
    good = (
        "for step, (x, y) in zip(range(steps), loader):\n"
        "    train_step(x, y)\n"
    )


class ConstantColumn(RuntimeRule):
    code = "PT-RUN015"
    name = "constant-column"
    severity = Severity.medium
    summary = "a label, or an input feature column, is constant across the training batches"
    why = ("Per-column statistics of the first training batches show a label that never changes (the wrong "
           "column was taken as the target, data sorted by class and not shuffled) or a feature that carries no "
           "information (a cast to int that truncated it to 0, a broken join).")
    fix_text = "Check the column selection and the preprocessing of the named batch element and columns."
    bad = (
        "table = np.column_stack([features, target, np.ones(len(target))])\n"
        "x, y = table[:, :-1], table[:, -1]\n"
    )
    good = (
        "table = np.column_stack([features, target, np.ones(len(target))])\n"
        "x, y = table[:, :-2], table[:, -2]\n"
    )


class InputBound(RuntimeRule):
    code = "PT-RUN016"
    name = "input-bound"
    severity = Severity.low
    summary = "a large share of the step time is spent waiting for data"
    why = ("The doctor times every `next()` on the DataLoader against the time between optimizer steps (the "
           "first batch of each epoch, which pays the workers' start-up, is reported apart). More than half of "
           "the step waiting for Python augmentation in the main process leaves the accelerator idle.")
    fix_text = ("Use `num_workers` > 0 (with persistent_workers), vectorise the augmentation, move it to the "
                "device, or precompute it.")
    bad = "loader = DataLoader(dataset, batch_size=64, shuffle=True)\n"
    good = ("loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=4, persistent_workers=True,\n"
            "                    pin_memory=torch.cuda.is_available(), worker_init_fn=seed_worker,\n"
            "                    generator=torch.Generator().manual_seed(0))\n")


class LrScheduleAnomaly(RuntimeRule):
    code = "PT-RUN017"
    name = "lr-schedule-anomaly"
    severity = Severity.medium
    summary = "the LR actually applied collapses inside the first epoch, or the warm-up never ends"
    why = ("The doctor records the LR each optimizer applied at every step. A scheduler sized in epochs "
           "(T_max=epochs, step_size=10) but stepped every batch decays the LR to nothing within the first epoch; "
           "a warm-up sized in steps but stepped once per epoch keeps the LR at a few percent of its target for "
           "the whole run.")
    fix_text = ("Size the scheduler in the unit it is stepped in: `T_max=epochs * len(loader)` when stepping per "
                "batch, or step it once per epoch.")
    bad = (
        "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)\n"
        "for epoch in range(epochs):\n"
        "    for x, y in loader:\n"
        "        train_step(x, y)\n"
        "        scheduler.step()\n"
    )
    good = (
        "scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))\n"
        "for epoch in range(epochs):\n"
        "    for x, y in loader:\n"
        "        train_step(x, y)\n"
        "        scheduler.step()\n"
    )


class HostSyncsPerStep(RuntimeRule):
    code = "PT-RUN018"
    name = "host-syncs-per-step"
    severity = Severity.low
    summary = "many host-device syncs per training step (.item(), .cpu(), .tolist(), printing tensors)"
    why = ("Each `.item()` on a CUDA tensor waits for the GPU to finish everything queued, so per-sample or "
           "per-batch-element syncs in the training loop serialise the host and the device. The doctor counts "
           "the calls from the user's code between optimizer steps (not those inside data loading); on a CPU run "
           "it reports them as info.")
    fix_text = "Accumulate metrics in tensors on the device and call `.item()` once per logging interval."
    bad = (
        "for x, y in loader:\n"
        "    loss = train_step(x, y)\n"
        "    correct += sum(int(p.item() == t.item()) for p, t in zip(preds, y))\n"
    )
    good = (
        "for x, y in loader:\n"
        "    loss = train_step(x, y)\n"
        "    correct += (preds == y).sum()\n"
    )


class Recompilations(RuntimeRule):
    code = "PT-RUN019"
    name = "recompilations"
    severity = Severity.low
    summary = "torch.compile recompiled the model repeatedly"
    why = ("Each recompilation costs seconds to minutes; variable sequence lengths with `dynamic=False`, Python "
           "scalars that change every step, or graph breaks make torch.compile recompile instead of reusing its "
           "graph, so the 'compiled' run is slower than eager.")
    fix_text = ("Pad to a few fixed shapes, mark dynamic dimensions (`torch._dynamo.mark_dynamic`), or compile "
                "with `dynamic=True`.")
    bad = "model = torch.compile(model, dynamic=False)\n"
    good = "model = torch.compile(model, dynamic=True)\n"


class Nondeterministic(RuntimeRule):
    code = "PT-RUN020"
    name = "nondeterministic"
    severity = Severity.medium
    summary = "two runs with the same arguments differ (`doctor --check-determinism`)"
    why = ("On CPU, the same seed and thread count give bit-identical losses, so any difference between two runs "
           "of the script comes from an unseeded generator (numpy or random in the augmentation, loader workers "
           "without a worker_init_fn) or a nondeterministic algorithm.")
    fix_text = ("Seed torch, numpy and random once at start-up, pass a seeded generator to the DataLoader, seed "
                "workers, and set `torch.use_deterministic_algorithms(True)` on GPU.")
    bad = (
        "def augment(x):\n"
        "    return x + np.random.normal(0, 0.1, x.shape)\n"
    )
    good = (
        "rng = np.random.default_rng(0)\n"
        "\n"
        "def augment(x):\n"
        "    return x + rng.normal(0, 0.1, x.shape)\n"
    )


class ResumeMismatch(RuntimeRule):
    code = "PT-RUN021"
    name = "resume-mismatch"
    severity = Severity.high
    summary = "stopping and resuming does not reproduce the uninterrupted run (`doctor --resume-args`)"
    why = ("The doctor runs N steps, then N/2 steps, then resumes with the given arguments for N/2 more and "
           "compares the losses: a checkpoint without the optimizer, scheduler, GradScaler or RNG states, or a "
           "resume that restarts the data from the beginning, trains a different model than the uninterrupted "
           "run.")
    fix_text = ("Save and restore model, optimizer, scheduler, scaler, the RNG states and the epoch / step "
                "position; continue the data where it stopped.")
    bad = (
        "torch.save({\"model\": model.state_dict()}, path)\n"
    )
    good = (
        "torch.save({\"model\": model.state_dict(), \"optimizer\": optimizer.state_dict(),\n"
        "            \"scheduler\": scheduler.state_dict(), \"step\": step,\n"
        "            \"rng\": torch.get_rng_state()}, path)\n"
    )
