"""Every rule of the catalogue, one module each (`<family><number>_<name>.py`).

Importing this package imports every module in it, and defining a `Rule` subclass registers it:
adding a rule means adding one module here (and its fixtures under tests/review/fixtures/).
"""

import importlib
import pkgutil

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _mod.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod}")
