"""The reviewer on real public training code: findings per 1,000 lines, per rule, and the false-alarm share.

The corpus is a list of (repository, commit, paths): training scripts, examples and recipes of well-known public
repositories. Nothing third-party is committed here: the bench extracts the listed paths at the listed commit from a
local git mirror (the `fetch` tool puts them in /work/.mirror/<owner>+<name>/repo, or set PP_REAL_CORPUS_MIRROR) into
a cache directory outside the repository (~/.cache/pytorch-patterns/real_corpus/, or PP_REAL_CORPUS_CACHE) with
`git archive`, reviews each extracted tree as one project with the default rule set, and prints:

  - per repository: Python lines, findings, findings per 1,000 lines;
  - per rule: findings and findings per 1,000 lines over the whole corpus;
  - with the hand triage in bench/real_corpus_triage.md (one row per finding read by hand: repository, file:line,
    code, verdict, reason), the verdict counts among the findings this run still reports, and the false-alarm share
    among the findings read. Rows whose finding is gone are listed as "no longer reported" (the fixed false alarms).

Repositories whose mirror is absent are skipped with a note. Run:

  python bench/real_corpus.py                 # summary
  python bench/real_corpus.py --list          # every finding, one line each (what the triage is written from)
  python bench/real_corpus.py --untriaged     # only the findings the triage has not read yet
  python bench/real_corpus.py --repo karpathy/nanoGPT --select ALL
  python bench/real_corpus.py --json out.json

No timing is printed: this bench measures accuracy, not speed (bench/review_speed.py does speed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TRIAGE = Path(__file__).resolve().parent / "real_corpus_triage.md"
DEFAULT_MIRROR = Path(os.environ.get("PP_REAL_CORPUS_MIRROR", "/work/.mirror"))
DEFAULT_CACHE = Path(os.environ.get("PP_REAL_CORPUS_CACHE", Path.home() / ".cache" / "pytorch-patterns" / "real_corpus"))
VERDICTS = ("true bug", "false alarm", "style")


@dataclass(frozen=True)
class CorpusRepo:
    repo: str  # owner/name on GitHub
    commit: str  # 40 hex digits
    paths: tuple[str, ...]  # files or folders inside the repository, reviewed together as one project
    exclude: tuple[str, ...] = field(default=())  # path prefixes inside `paths` to leave out (tests, generated code)
    # "dev": read and used to fix rules during the session; "fresh": added after the fixes and only read, to
    # measure the false-alarm share on code the fixes were not made from
    batch: str = "dev"

    @property
    def slug(self) -> str:
        return self.repo.replace("/", "+")


CORPUS: tuple[CorpusRepo, ...] = (
    CorpusRepo("karpathy/nanoGPT", "3adf61e154c3fe3fca428ad6bc3818b27a3b8291",
               ("train.py", "model.py", "sample.py", "bench.py")),
    CorpusRepo("karpathy/llm.c", "f1e2ace651495b74ae22d45d1723443fd00ecd3a", ("train_gpt2.py", "train_llama3.py")),
    CorpusRepo("facebookresearch/dino", "7c446df5b9f45747937fb0d72314eb9f7b66930a",
               ("main_dino.py", "eval_linear.py", "eval_knn.py", "utils.py", "vision_transformer.py")),
    CorpusRepo("facebookresearch/mae", "efb2a8062c206524e35e47d04501ed4f544c0ae8",
               ("main_pretrain.py", "main_finetune.py", "main_linprobe.py", "engine_pretrain.py",
                "engine_finetune.py", "models_mae.py", "models_vit.py", "util")),
    CorpusRepo("facebookresearch/moco", "a419ef282fc9885015674e77f58c59447206a27f",
               ("main_moco.py", "main_lincls.py", "moco")),
    CorpusRepo("facebookresearch/detr", "29901c51d7fe8712168b8d0d64351170bc0f83e0",
               ("main.py", "engine.py", "models", "datasets", "util")),
    CorpusRepo("openai/CLIP", "d05afc436d78f1c48dc0dbf8e5980a9d471f35f6", ("clip",)),
    CorpusRepo("lucidrains/denoising-diffusion-pytorch", "faed4db28e724735323fa91c70aa9b28a6e1cbac",
               ("denoising_diffusion_pytorch/denoising_diffusion_pytorch.py",
                "denoising_diffusion_pytorch/denoising_diffusion_pytorch_1d.py",
                "denoising_diffusion_pytorch/classifier_free_guidance.py",
                "denoising_diffusion_pytorch/elucidated_diffusion.py",
                "denoising_diffusion_pytorch/attend.py",
                "denoising_diffusion_pytorch/fid_evaluation.py")),
    CorpusRepo("kuangliu/pytorch-cifar", "49b7aa97b0c12fe0d4054e670403a16b6b834ddd",
               ("main.py", "utils.py", "models/resnet.py", "models/vgg.py", "models/densenet.py")),
    CorpusRepo("milesial/Pytorch-UNet", "21d7850f2af30a9695bbeea75f3136aa538cfc4a",
               ("train.py", "evaluate.py", "predict.py", "unet", "utils")),
    CorpusRepo("pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8",
               ("mnist", "mnist_hogwild", "mnist_rnn", "mnist_forward_forward", "imagenet", "dcgan", "vae",
                "word_language_model", "time_sequence_prediction", "super_resolution", "siamese_network",
                "reinforcement_learning", "regression", "gat", "gcn", "fast_neural_style", "language_translation",
                "distributed/ddp-tutorial-series", "distributed/minGPT-ddp", "distributed/FSDP2",
                "distributed/rpc")),
    CorpusRepo("Lightning-AI/pytorch-lightning", "7f0c3436cd3f6ad3753125672024fc415cbcb414",
               ("examples/fabric", "examples/pytorch")),
    CorpusRepo("huggingface/diffusers", "58eb52c0803ea9af3abec60841c2a093bdf1f951",
               ("examples/text_to_image/train_text_to_image.py",
                "examples/unconditional_image_generation/train_unconditional.py",
                "examples/dreambooth/train_dreambooth.py",
                "examples/dreambooth/train_dreambooth_lora.py",
                "examples/controlnet/train_controlnet.py",
                "examples/custom_diffusion/train_custom_diffusion.py",
                "examples/instruct_pix2pix/train_instruct_pix2pix.py")),
    CorpusRepo("pytorch/torchtune", "bd2a0fc7c31430972728494fa01aaeeb0ebf1ba1",
               ("recipes/full_finetune_single_device.py", "recipes/lora_finetune_single_device.py",
                "recipes/knowledge_distillation_single_device.py", "recipes/lora_dpo_single_device.py",
                "recipes/ppo_full_finetune_single_device.py", "recipes/full_finetune_distributed.py")),
    CorpusRepo("mosaicml/composer", "6405188805a0054b4551ec49e4919c54c971d0e8",
               ("examples/checkpoint_with_wandb.py", "examples/custom_models.py", "examples/gyro_dropout_example.py",
                "examples/profiler_demo.py")),
    CorpusRepo("huggingface/accelerate", "16cb6eb80dd9aa8b4df1a63ef57863e455d53b83",
               ("examples/nlp_example.py", "examples/cv_example.py", "examples/complete_nlp_example.py",
                "examples/complete_cv_example.py", "examples/by_feature")),
    CorpusRepo("huggingface/pytorch-image-models", "aa4b5850c1543fa488abf260f18390eda46cf85d",
               ("train.py", "validate.py", "timm/utils/model_ema.py", "timm/utils/cuda.py",
                "timm/utils/checkpoint_saver.py")),
    CorpusRepo("openai/improved-diffusion", "1bc7bbbdc414d83d4abf2ad8cc1446dc36c4e4d5",
               ("improved_diffusion/train_util.py", "improved_diffusion/fp16_util.py", "improved_diffusion/resample.py",
                "improved_diffusion/image_datasets.py", "scripts/image_train.py", "scripts/image_sample.py",
                "scripts/image_nll.py"), batch="fresh"),
    CorpusRepo("facebookresearch/ConvNeXt", "048efcea897d999aed302f2639b6270aedf8d4c8",
               ("main.py", "engine.py", "datasets.py", "optim_factory.py", "utils.py", "models/convnext.py"),
               batch="fresh"),
    CorpusRepo("facebookresearch/deit", "7e160fe43f0252d17191b71cbb5826254114ea5b",
               ("main.py", "engine.py", "losses.py", "samplers.py", "datasets.py", "utils.py", "models.py"),
               batch="fresh"),
    CorpusRepo("ultralytics/yolov5", "5081342f04fb287fc2e5f2b5a4e06752b7937b1c",
               ("train.py", "val.py", "classify/train.py", "classify/val.py", "segment/train.py",
                "utils/torch_utils.py", "utils/loss.py", "utils/autobatch.py"), batch="fresh"),
    CorpusRepo("karpathy/minGPT", "37baab71b9abea1b76ab957409a1cc2fbfba8a26",
               ("mingpt", "projects/adder/adder.py", "projects/chargpt/chargpt.py"), batch="fresh"),
    CorpusRepo("facebookresearch/simsiam", "a7bc1772896d0dad0806c51f0bb6f3b16d290468",
               ("main_simsiam.py", "main_lincls.py", "simsiam"), batch="fresh"),
    CorpusRepo("facebookresearch/barlowtwins", "8e8d284ca0bc02f88b92328e53f9b901e86b4a3c",
               ("main.py", "evaluate.py"), batch="fresh"),
    CorpusRepo("sthalles/SimCLR", "1848fc934ad844ae630e6c452300433fe99acfd9",
               ("run.py", "simclr.py", "utils.py", "models/resnet_simclr.py", "data_aug"), batch="fresh"),
    CorpusRepo("facebookresearch/swav", "06b1b7cbaf6ba2a792300d79c7299db98b93b7f9",
               ("main_swav.py", "eval_linear.py", "eval_semisup.py", "src"), batch="fresh"),
    # "fresh3": added at 12:45 UTC (third fresh batch), reviewed and read by hand BEFORE any fix made from it; its
    # first-reading false-alarm share is the generalisation figure. Tutorials by non-experts sit beside research code.
    CorpusRepo("yunjey/pytorch-tutorial", "0500d3df5a2a8080ccfccbc00aca0eacc21818db", ("tutorials",), batch="fresh3"),
    CorpusRepo("TingsongYu/PyTorch_Tutorial", "0847dd51ceca50346775ebe3df013cc4531a10ef", ("Code",), batch="fresh3"),
    CorpusRepo("eriklindernoren/PyTorch-GAN", "36d3c77e5ff20ebe0aeefd322326a134a279b93e", ("implementations",),
               batch="fresh3"),
    CorpusRepo("jadore801120/attention-is-all-you-need-pytorch", "132907dd272e2cc92e3c10e6c4e783a87ff8893d",
               ("train.py", "translate.py", "transformer"), batch="fresh3"),
    CorpusRepo("Kaixhin/Rainbow", "1745b184c3dfc03d4ffa3ce2342ced9996b39a60",
               ("agent.py", "env.py", "main.py", "memory.py", "model.py", "test.py"), batch="fresh3"),
    CorpusRepo("clovaai/deep-text-recognition-benchmark", "e2117f2fb882b3c6085030500a260c113be27a63",
               ("train.py", "test.py", "model.py", "dataset.py", "utils.py", "modules"), batch="fresh3"),
    CorpusRepo("pytorch/ignite", "de08e799cfb55a6cf4aa778575d6bad725385453",
               ("examples/mnist/mnist.py", "examples/mnist/mnist_save_resume_engine.py", "examples/cifar10",
                "examples/cifar100_amp_benchmark", "examples/gan", "examples/reinforcement_learning",
                "examples/super_resolution", "examples/siamese_network", "examples/fast_neural_style",
                "examples/transformers"), batch="fresh3"),
    CorpusRepo("openai/guided-diffusion", "22e0df8183507e13a7813f8d38d51b072ca1e67c",
               ("guided_diffusion/train_util.py", "guided_diffusion/fp16_util.py", "guided_diffusion/resample.py",
                "scripts/classifier_train.py", "scripts/super_res_train.py", "scripts/classifier_sample.py"),
               batch="fresh3"),
    CorpusRepo("CompVis/latent-diffusion", "a506df5756472e2ebaf9078affdde2c4f1502cd4",
               ("main.py", "ldm/models/diffusion/ddpm.py", "ldm/models/autoencoder.py",
                "ldm/models/diffusion/classifier.py", "ldm/modules/ema.py", "ldm/lr_scheduler.py",
                "ldm/modules/losses"), batch="fresh3"),
    CorpusRepo("lucidrains/vit-pytorch", "69d24fe9e3024c0d4b02761123b8583a24ebed1e",
               ("train_vit_decorr.py", "vit_pytorch/vit.py", "vit_pytorch/distill.py", "vit_pytorch/mae.py",
                "vit_pytorch/simmim.py", "vit_pytorch/dino.py", "vit_pytorch/mpp.py", "vit_pytorch/es_vit.py",
                "vit_pytorch/cait.py", "vit_pytorch/levit.py", "vit_pytorch/vit_for_small_dataset.py"),
               batch="fresh3"),
    CorpusRepo("facebookresearch/dinov2", "b8931f7bf91576930313be2c6d6af376033b35f0",
               ("dinov2/train", "dinov2/eval/linear.py", "dinov2/eval/knn.py", "dinov2/eval/log_regression.py",
                "dinov2/eval/metrics.py", "dinov2/eval/utils.py", "dinov2/eval/setup.py", "dinov2/utils",
                "dinov2/fsdp", "dinov2/loss"), batch="fresh3"),
    # "fresh4": added at 13:25 UTC, after the fresh3 fixes, read once before any fix made from it
    CorpusRepo("MorvanZhou/PyTorch-Tutorial", "dbe154a9e56635e51c6b0c2ccea8ae36cfb585a7", ("tutorial-contents",),
               batch="fresh4"),
    CorpusRepo("L1aoXingyu/pytorch-beginner", "a57dd7ea35c9965a41f4963dee62d38884f92a65",
               ("01-Linear Regression", "02-Logistic Regression", "03-Neural Network", "04-Convolutional Neural Network",
                "05-Recurrent Neural Network", "06-Natural Language Process", "07-Language Model", "08-AutoEncoder",
                "09-Generative Adversarial network"), batch="fresh4"),
    CorpusRepo("cs230-stanford/cs230-code-examples", "478e747b1c8bf57c6e2ce6b7ffd8068fe0287056",
               ("pytorch/vision", "pytorch/nlp"), batch="fresh4"),
    CorpusRepo("hunkim/PyTorchZeroToAll", "e5a260fac0b4ff1e2ec434fc6f0d962ac97fc289",
               ("05_linear_regression.py", "06_logistic_regression.py", "07_diabets_logistic.py",
                "08_2_dataset_loade_logistic.py", "09_2_softmax_mnist.py", "10_1_cnn_mnist.py",
                "11_1_toy_inception_mnist.py", "12_2_hello_rnn.py", "12_3_hello_rnn_seq.py", "12_4_hello_rnn_emb.py",
                "13_2_rnn_classification.py", "13_3_char_rnn.py", "14_1_seq2seq.py", "14_2_seq2seq_att.py",
                "seq2seq_models.py", "name_dataset.py", "text_loader.py"), batch="fresh4"),
    CorpusRepo("lucidrains/DALLE-pytorch", "58c1e1a4fef10725a79bd45cdb5581c03e3e59e7",
               ("train_dalle.py", "train_vae.py", "generate.py", "dalle_pytorch/dalle_pytorch.py",
                "dalle_pytorch/vae.py", "dalle_pytorch/loader.py", "dalle_pytorch/distributed_utils.py"),
               batch="fresh4"),
)


# ----------------------------------------------------------------------------------------------------------------
# extraction


class CorpusError(RuntimeError):
    pass


def mirror_dir(mirror: Path, entry: CorpusRepo) -> Path:
    return mirror / entry.slug / "repo"


def extract(entry: CorpusRepo, mirror: Path, cache: Path) -> Path | None:
    """The repository's listed paths at its commit, under the cache dir (extracted once); None if no mirror."""
    git_dir = mirror_dir(mirror, entry)
    if not git_dir.is_dir():
        return None
    dest = cache / f"{entry.slug}@{entry.commit[:12]}"
    stamp = dest / ".pp-extracted"
    if stamp.is_file() and stamp.read_text() == "\n".join(entry.paths + ("--",) + entry.exclude):
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    listing = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "-z", entry.commit, "--", *entry.paths],
        capture_output=True, check=False,
    )
    # Python sources only: mirrors may lack the blobs of large data files, and only .py is reviewed
    names = [n for n in listing.stdout.decode(errors="replace").split("\0") if n.endswith(".py")]
    if listing.returncode != 0 or not names:
        shutil.rmtree(dest, ignore_errors=True)
        why = listing.stderr.decode(errors="replace").strip() or "no Python file under the listed paths"
        raise CorpusError(f"{entry.repo}@{entry.commit[:12]}: {why}")
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", "--format=tar", entry.commit, "--", *names],
        capture_output=True, check=False,
    )
    if proc.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise CorpusError(f"{entry.repo}@{entry.commit[:12]}: git archive failed: {proc.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        members = [m for m in tar.getmembers()
                   if (m.isfile() or m.isdir()) and not m.name.startswith(("/", "..")) and ".." not in Path(m.name).parts
                   and not any(m.name == ex or m.name.startswith(ex.rstrip("/") + "/") for ex in entry.exclude)]
        tar.extractall(dest, members=members, filter="data")
    stamp.write_text("\n".join(entry.paths + ("--",) + entry.exclude))
    return dest


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if p.is_file())


def count_lines(files: list[Path]) -> int:
    n = 0
    for p in files:
        with open(p, "rb") as fh:
            n += sum(1 for _ in fh)
    return n


# ----------------------------------------------------------------------------------------------------------------
# triage


TRIAGE_ROW = re.compile(r"^\|\s*(?P<repo>[\w.\-]+/[\w.\-]+)\s*\|\s*`?(?P<file>[^`|:]+):(?P<line>\d+)`?\s*\|\s*"
                        r"(?P<code>PT-[A-Z]+\d{3})\s*\|\s*(?P<verdict>[a-z ]+?)\s*\|\s*(?P<reason>.*?)\s*\|?\s*$")


@dataclass(frozen=True)
class TriageRow:
    repo: str
    file: str
    line: int
    code: str
    verdict: str
    reason: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.repo, self.file, self.line, self.code)


def read_triage(path: Path | None = None) -> dict[tuple[str, str, int, str], TriageRow]:
    """Rows of the markdown tables in the triage file; a bad verdict is an error (the figures would be wrong)."""
    path = path or TRIAGE
    rows: dict[tuple[str, str, int, str], TriageRow] = {}
    if not path.is_file():
        return rows
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = TRIAGE_ROW.match(raw.strip())
        if not m:
            continue
        verdict = m["verdict"].strip()
        if verdict not in VERDICTS:
            raise CorpusError(f"{path.name}:{n}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        row = TriageRow(m["repo"], m["file"].strip(), int(m["line"]), m["code"], verdict, m["reason"])
        rows[row.key] = row
    return rows


# ----------------------------------------------------------------------------------------------------------------
# review


@dataclass
class RepoResult:
    entry: CorpusRepo
    files: int
    lines: int
    findings: list  # list[Finding], file paths relative to the extracted tree
    errors: list


def review_tree(entry: CorpusRepo, root: Path, select: list[str] | None, ignore: list[str] | None) -> RepoResult:
    from pytorch_patterns.skill.review import review_paths

    files = python_files(root)
    report = review_paths([str(root)], select=select, ignore=ignore, jobs=1)
    findings = []
    for f in report.findings:
        findings.append(f.model_copy(update={"file": os.path.relpath(f.file, root)}))
    errors = [e.model_copy(update={"file": os.path.relpath(e.file, root)}) for e in report.errors]
    return RepoResult(entry, len(files), count_lines(files), findings, errors)


def per_k(n: int, lines: int) -> float:
    return 1000.0 * n / lines if lines else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="folder of <owner>+<name>/repo git mirrors")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the listed paths are extracted")
    ap.add_argument("--repo", action="append", help="only this repository (owner/name); repeatable")
    ap.add_argument("--select", help="comma-separated rule codes (default: the default rule set)")
    ap.add_argument("--ignore", help="comma-separated rule codes to leave out")
    ap.add_argument("--list", action="store_true", help="print every finding")
    ap.add_argument("--untriaged", action="store_true", help="print the findings the triage file has not read")
    ap.add_argument("--json", type=Path, help="also write the figures and findings as JSON here")
    args = ap.parse_args(argv)

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from pytorch_patterns.skill.review.rule import first_unknown_code

    select = [c.strip() for c in args.select.split(",") if c.strip()] if args.select else None
    ignore = [c.strip() for c in args.ignore.split(",") if c.strip()] if args.ignore else None
    for codes in (select or [], ignore or []):
        bad = first_unknown_code([c for c in codes if c != "ALL"])
        if bad:
            print(f"real_corpus: unknown rule code {bad!r}", file=sys.stderr)
            return 2
    wanted = set(args.repo or [])
    unknown = wanted - {e.repo for e in CORPUS}
    if unknown:
        print(f"real_corpus: not in the corpus: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    try:
        triage = read_triage()
    except CorpusError as exc:
        print(f"real_corpus: {exc}", file=sys.stderr)
        return 2

    results: list[RepoResult] = []
    for entry in CORPUS:
        if wanted and entry.repo not in wanted:
            continue
        try:
            root = extract(entry, args.mirror, args.cache)
        except CorpusError as exc:
            print(f"note: skipped {exc}", file=sys.stderr)
            continue
        if root is None:
            print(f"note: skipped {entry.repo}: no mirror at {mirror_dir(args.mirror, entry)} "
                  f"(fetch github:{entry.repo})", file=sys.stderr)
            continue
        results.append(review_tree(entry, root, select, ignore))
    if not results:
        print("real_corpus: no repository of the corpus is present; nothing reviewed", file=sys.stderr)
        return 2

    total_lines = sum(r.lines for r in results)
    total_findings = sum(len(r.findings) for r in results)
    print(f"{'repository':42} {'files':>5} {'lines':>7} {'findings':>8} {'per 1k':>7}")
    for r in results:
        print(f"{r.entry.repo:42} {r.files:5d} {r.lines:7d} {len(r.findings):8d} {per_k(len(r.findings), r.lines):7.2f}")
        for e in r.errors:
            print(f"    not reviewed: {e.file}: {e.message}")
    print(f"{'total':42} {sum(r.files for r in results):5d} {total_lines:7d} {total_findings:8d} "
          f"{per_k(total_findings, total_lines):7.2f}")

    by_rule = Counter(f.rule for r in results for f in r.findings)
    print(f"\n{'rule':12} {'findings':>8} {'per 1k':>7}  triaged: true / false alarm / style / unread")
    verdict_by_rule: dict[str, Counter] = defaultdict(Counter)
    reported_keys = set()
    for r in results:
        for f in r.findings:
            key = (r.entry.repo, f.file, f.line, f.rule)
            reported_keys.add(key)
            row = triage.get(key)
            verdict_by_rule[f.rule][row.verdict if row else "unread"] += 1
    for rule, n in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
        v = verdict_by_rule[rule]
        print(f"{rule:12} {n:8d} {per_k(n, total_lines):7.2f}  {v['true bug']:4d} / {v['false alarm']:4d} / "
              f"{v['style']:4d} / {v['unread']:4d}")

    verdicts = Counter()
    for counter in verdict_by_rule.values():
        verdicts.update(counter)
    read = verdicts["true bug"] + verdicts["false alarm"] + verdicts["style"]
    print(f"\nread by hand: {read} of {total_findings} findings reported now: {verdicts['true bug']} true bugs, "
          f"{verdicts['false alarm']} false alarms, {verdicts['style']} style")
    if read:
        print(f"false-alarm share among the findings read: {verdicts['false alarm'] / read:.1%}")
    for batch in sorted({r.entry.batch for r in results}):
        v = Counter()
        n = 0
        for r in results:
            if r.entry.batch != batch:
                continue
            for f in r.findings:
                n += 1
                row = triage.get((r.entry.repo, f.file, f.line, f.rule))
                v[row.verdict if row else "unread"] += 1
        batch_read = n - v["unread"]
        share = f"{v['false alarm'] / batch_read:.1%}" if batch_read else "n/a"
        print(f"  batch {batch!r}: {n} findings, {batch_read} read, {v['false alarm']} false alarms ({share}), "
              f"{v['true bug']} true bugs")
    in_scope = {e.repo for e in (r.entry for r in results)}
    gone = [row for key, row in triage.items() if key not in reported_keys and row.repo in in_scope
            and (select is None or row.code in select or "ALL" in select)]
    if gone:
        gone_v = Counter(row.verdict for row in gone)
        print(f"triaged findings no longer reported: {len(gone)} ({gone_v['false alarm']} false alarms, "
              f"{gone_v['true bug']} true bugs, {gone_v['style']} style)")
        for row in gone:
            if row.verdict == "true bug":
                print(f"    LOST true bug: {row.repo} {row.file}:{row.line} {row.code}")

    if args.list or args.untriaged:
        print()
        for r in results:
            for f in r.findings:
                row = triage.get((r.entry.repo, f.file, f.line, f.rule))
                if args.untriaged and row:
                    continue
                tag = f"[{row.verdict}] " if row else ""
                print(f"{r.entry.repo} {f.file}:{f.line} {f.rule} {tag}{f.message}")

    if args.json:
        payload = {
            "lines": total_lines,
            "findings": total_findings,
            "per_1k_lines": per_k(total_findings, total_lines),
            "per_rule": dict(by_rule),
            "verdicts": dict(verdicts),
            "repos": [
                {"repo": r.entry.repo, "commit": r.entry.commit, "files": r.files, "lines": r.lines,
                 "findings": [{"file": f.file, "line": f.line, "rule": f.rule, "message": f.message}
                              for f in r.findings]}
                for r in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
