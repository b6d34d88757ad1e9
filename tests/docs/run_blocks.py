"""Child process for tests/docs: run the docs' runnable blocks one after another on CPU.

Usage: python run_blocks.py BLOCKS.json RESULTS.json
BLOCKS.json is a list of {"where": "file:line", "code": "..."}. Each block runs as `__main__` in a fresh
namespace and a fresh temporary directory, with FutureWarnings and the block's own DeprecationWarnings
raised as errors (a doc must not teach deprecated APIs), under a per-block alarm. Global torch state that one block
may change (determinism, cuDNN flags, default dtype, threads, process groups) is reset before the next.
RESULTS.json gets {"where": ..., "ok": bool, "error": str | None, "stdout": str, "seconds": float} per block.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the docs promise CPU runs; never pick up a GPU here

import torch  # noqa: E402  (after hiding GPUs)

BLOCK_TIMEOUT_S = int(os.environ.get("DOC_BLOCK_TIMEOUT_S", "60"))


class BlockTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise BlockTimeout(f"block ran longer than {BLOCK_TIMEOUT_S} s")


def reset_torch_state(threads: int, environ: dict[str, str]) -> None:
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = False
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(threads)
    torch.set_float32_matmul_precision("highest")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    os.environ.clear()
    os.environ.update(environ)


def run_one(where: str, code: str) -> dict:
    out = io.StringIO()
    start = time.perf_counter()
    error = None
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="doc-block-") as tmp:
        os.chdir(tmp)
        signal.alarm(BLOCK_TIMEOUT_S)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(out):
                # warnings attributed to the block itself (module __main__) or any FutureWarning (torch's
                # deprecations, e.g. torch.cuda.amp.*) fail the block
                warnings.filterwarnings("error", category=FutureWarning)
                warnings.filterwarnings("error", category=DeprecationWarning, module="__main__")
                exec(compile(code, where, "exec"), {"__name__": "__main__", "__file__": os.path.join(tmp, "block.py")})
        except BaseException:  # noqa: BLE001  (report SystemExit/KeyboardInterrupt from a block too)
            error = traceback.format_exc(limit=-8)
        finally:
            signal.alarm(0)
            os.chdir(cwd)
    return {"where": where, "ok": error is None, "error": error, "stdout": out.getvalue()[-4000:],
            "seconds": round(time.perf_counter() - start, 3)}


def main() -> int:
    blocks_path, results_path = sys.argv[1], sys.argv[2]
    if sys.platform.startswith("linux"):
        # Blocks run through exec(), so a class they define (a Dataset) lives in no importable module, and
        # worker processes started by forkserver (the Linux default from Python 3.14) or spawn cannot unpickle
        # it. Copied into a script file, the same block works under any start method; here, fork.
        multiprocessing.set_start_method("fork", force=True)
    with open(blocks_path, encoding="utf-8") as f:
        blocks = json.load(f)
    signal.signal(signal.SIGALRM, _alarm)
    threads, environ = torch.get_num_threads(), dict(os.environ)
    results = []
    for block in blocks:
        reset_torch_state(threads, environ)
        results.append(run_one(block["where"], block["code"]))
        with open(results_path, "w", encoding="utf-8") as f:  # written after each block: a crash keeps the rest
            json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
