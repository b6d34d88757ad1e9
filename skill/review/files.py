"""Reviewing paths: file discovery (recursive, excludes), stdin, notebooks, and all cores for directories."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .config import DEFAULT_EXCLUDE, ReviewConfig, _match
from .engine import SourceParseError, review_source
from .models import Finding, ReviewReport, SourceError

SUFFIXES = (".py", ".pyi", ".ipynb")
PARALLEL_MIN_FILES = 24  # below this, process start-up costs more than it saves


def discover(paths: Iterable[str | Path], config: ReviewConfig | None = None) -> tuple[list[str], list[SourceError]]:
    """Expand paths into the files to review. '-' (stdin) is kept as is. Missing paths become errors."""
    config = config or ReviewConfig()
    files: list[str] = []
    errors: list[SourceError] = []
    for raw in paths:
        p = str(raw)
        if p == "-":
            files.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            files.extend(_walk(path, config))
        elif path.is_file():
            files.append(p)  # named explicitly: reviewed even if its suffix or an exclude says otherwise
        else:
            errors.append(SourceError(file=p, message="no such file or directory"))
    return files, errors


def _walk(root: Path, config: ReviewConfig) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if not any(_match(d, pat) for pat in DEFAULT_EXCLUDE)
            and not (Path(dirpath, d) / "pyvenv.cfg").exists()
            and not config.is_excluded(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            if name.endswith(SUFFIXES):
                full = os.path.join(dirpath, name)
                if not config.is_excluded(full):
                    yield full


def review_file(
    path: str, config: ReviewConfig | None = None, select=None, ignore=None, project=None
) -> tuple[list[Finding], SourceError | None]:
    config = config or ReviewConfig()
    try:
        if path == "-":
            data: bytes = sys.stdin.buffer.read()
            name = "-"
        else:
            with open(path, "rb") as fh:
                data = fh.read()
            name = path
    except OSError as exc:
        return [], SourceError(file=path, message=f"cannot read: {exc.strerror or exc}")
    sel = select if select is not None else config.effective_select()
    ign = [*(ignore or []), *config.ignores_for(path)]
    try:
        proj = project if path != "-" and not path.endswith(".ipynb") else None
        return review_source(data, name, select=sel, ignore=ign, project=proj, target_torch=config.target_torch), None
    except SourceParseError as exc:
        return [], exc.error


@contextmanager
def fewer_gc_passes(gen0: int = 100000) -> Iterator[None]:
    """Collect garbage less often while reviewing (restored afterwards).

    The analysis allocates millions of small objects (AST nodes, index entries) that stay alive while a tree is
    reviewed; with CPython's default threshold (700) the cyclic collector re-scans them thousands of times,
    about a third of the review time on a large tree. A higher first threshold keeps the same collector
    (memory is still reclaimed) with ~100x fewer passes."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], gen0), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _review_chunk(args: tuple[list[str], ReviewConfig, list[str] | None, list[str] | None, list[str]]) -> list[tuple[list[dict], dict | None]]:
    paths, config, select, ignore, project_files = args
    project = _project(project_files, config)
    out = []
    with fewer_gc_passes():
        for p in paths:
            findings, err = review_file(p, config, select, ignore, project)
            out.append(([f.model_dump(mode="json") for f in findings], err.model_dump(mode="json") if err else None))
    return out


def _project(files: list[str], config: ReviewConfig):
    from .project import Project

    py = [f for f in files if f != "-" and f.endswith((".py", ".pyi"))]
    proj = Project(py)
    proj.target_torch = config.target_torch
    return proj


def review_paths(
    paths: Iterable[str | Path],
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    config: ReviewConfig | None = None,
    jobs: int | None = None,
) -> ReviewReport:
    """Review files, directories (recursively) and '-' (stdin); directories use all cores.

    The files reviewed together form one project (`skill.review.project.Project`): a helper, method or
    import in one file is visible to the analysis of the others. Stdin and notebooks stay single-file.
    """
    config = config or ReviewConfig()
    select = list(select) if select is not None else None
    ignore = list(ignore) if ignore is not None else None
    files, errors = discover(paths, config)
    report = ReviewReport(errors=errors)
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(files) >= PARALLEL_MIN_FILES and "-" not in files:
        import multiprocessing as mp

        n_chunks = jobs * 4
        chunks = [files[i::n_chunks] for i in range(n_chunks)]
        chunks = [c for c in chunks if c]
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as pool:
            for result in pool.map(_review_chunk, [(c, config, select, ignore, files) for c in chunks]):
                for fdicts, err in result:
                    report.findings.extend(Finding.model_validate(f) for f in fdicts)
                    if err:
                        report.errors.append(SourceError.model_validate(err))
    else:
        project = _project(files, config)
        with fewer_gc_passes():
            for p in files:
                findings, err = review_file(p, config, select, ignore, project)
                report.findings.extend(findings)
                if err:
                    report.errors.append(err)
    report.files_reviewed = len(files)
    report.findings.sort(key=lambda f: (f.file, f.cell or 0, f.line, f.col, f.rule))
    return report
