"""pytorch-patterns: command-line entry point and version."""

__version__ = "0.3.0"


# In a source checkout the subpackages sit beside this folder (skill/, server/, evals/, reference_impls/): make them
# importable as pytorch_patterns.skill and so on. A wheel installs them inside this package instead (pyproject's
# package-dir), so it adds no generic top-level names.
def _checkout_path() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if (root / "skill" / "__init__.py").exists() and str(root) not in __path__:
        __path__.append(str(root))


_checkout_path()
