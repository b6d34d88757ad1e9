"""The training doctor: run a user's training script for a few steps under probes and report the silent bugs.

    from pytorch_patterns.reference_impls.doctor import diagnose, DoctorOptions
    report = diagnose("train.py", ["--epochs", "2"], DoctorOptions(steps=20))
    for f in report.findings: print(f.rule, f.line, f.message)

`probe.py` runs inside the child (hooks in torch), `checks.py` turns its events into PT-RUN findings,
`run.py` runs the child in the sandbox and builds the report, `report.py` renders it (text, JSON, HTML).
Importing this package does not import torch.
"""

from pytorch_patterns.reference_impls.doctor.checks import DoctorFinding
from pytorch_patterns.reference_impls.doctor.run import DoctorCancelled, DoctorOptions, DoctorReport, diagnose

__all__ = ["DoctorCancelled", "DoctorFinding", "DoctorOptions", "DoctorReport", "diagnose"]
