"""`[tool.pytorch-patterns]` in pyproject.toml: select, ignore, extend-select, per-file-ignores, exclude,
target-torch (the oldest torch the code must support, e.g. "2.6"; version-dependent rules read it)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .rule import all_rules, first_unknown_code

# Never descended into when a directory is reviewed.
DEFAULT_EXCLUDE = [
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", "__pycache__", "build", "dist",
    "site-packages", "node_modules", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".ipynb_checkpoints", ".eggs", "*.egg-info",
]


class ConfigError(ValueError):
    pass


class ReviewConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    select: list[str] | None = None
    extend_select: list[str] = Field(default_factory=list, alias="extend-select")
    ignore: list[str] = Field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = Field(default_factory=dict, alias="per-file-ignores")
    exclude: list[str] = Field(default_factory=list)
    extend_exclude: list[str] = Field(default_factory=list, alias="extend-exclude")
    target_torch: str = Field(default="2.6", alias="target-torch", pattern=r"^\d+(\.\d+){0,2}$")
    root: Path | None = Field(default=None, exclude=True)

    def effective_select(self) -> list[str] | None:
        if self.select is None and not self.extend_select:
            return None
        base = self.select if self.select is not None else [r.code for r in all_rules() if r.default_enabled]
        return [*base, *self.extend_select]

    def ignores_for(self, path: str) -> list[str]:
        rel = self._rel(path)
        out = list(self.ignore)
        for pattern, codes in self.per_file_ignores.items():
            if _match(rel, pattern):
                out.extend(codes)
        return out

    def is_excluded(self, path: str) -> bool:
        rel = self._rel(path)
        return any(_match(rel, p) for p in [*self.exclude, *self.extend_exclude])

    def _rel(self, path: str) -> str:
        p = Path(path)
        if self.root is not None:
            try:
                p = p.resolve().relative_to(self.root.resolve())
            except (ValueError, OSError):
                pass
        return PurePosixPath(p.as_posix()).as_posix()


def _match(rel: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern + "/*"):
        return True
    # a bare name or glob matches any path component (like ruff/flake8 excludes)
    parts = rel.split("/")
    if "/" not in pattern:
        return any(fnmatch.fnmatch(part, pattern) for part in parts)
    # "a/b" also matches "x/a/b/..." components sequences
    return any(fnmatch.fnmatch("/".join(parts[i:]), pattern) or fnmatch.fnmatch("/".join(parts[i:]), pattern + "/*")
               for i in range(len(parts)))


def find_pyproject(start: Path) -> Path | None:
    start = start.resolve()
    for d in [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]:
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                continue
            if "pytorch-patterns" in data.get("tool", {}):
                return candidate
    return None


def load_config(path: Path | None = None, *, start: Path | None = None) -> ReviewConfig:
    """Config from `path`, or from the nearest pyproject.toml above `start` that has our table."""
    if path is None:
        path = find_pyproject(start or Path.cwd())
        if path is None:
            return ReviewConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    table = data.get("tool", {}).get("pytorch-patterns", {}) if Path(path).name == "pyproject.toml" else data
    try:
        cfg = ReviewConfig.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid [tool.pytorch-patterns]: {exc}") from None
    bad = first_unknown_code([*(cfg.select or []), *cfg.extend_select, *cfg.ignore, *(c for v in cfg.per_file_ignores.values() for c in v)])
    if bad is not None:
        raise ConfigError(f"{path}: unknown rule code or prefix {bad!r} in [tool.pytorch-patterns]")
    cfg.root = Path(path).parent
    return cfg
