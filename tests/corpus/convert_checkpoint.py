"""Convert our legacy full-pickle checkpoints (trusted, produced by this repo) into state_dict files
and a TorchScript artefact for the C++ serving stack."""
import argparse
from pathlib import Path

import torch

from legacy_models import LegacyUNet  # noqa: F401  (needed so the old pickles can be unpickled)


def convert(src: Path, dst_dir: Path, example_size: int) -> None:
    # These files were written by our own training jobs with torch.save(model, ...): trusted input.
    model = torch.load(src, map_location="cpu", weights_only=False)
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(state, dst_dir / f"{src.stem}.state_dict.pt")

    example = torch.randn(1, 3, example_size, example_size)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
    traced.save(str(dst_dir / f"{src.stem}.ts"))

    # round-trip check: the state dict must load into a fresh model with weights_only=True
    fresh = type(model)()
    fresh.load_state_dict(torch.load(dst_dir / f"{src.stem}.state_dict.pt", map_location="cpu", weights_only=True))
    fresh.eval()
    with torch.no_grad():
        diff = (fresh(example) - model(example)).abs().max().item()
    print(f"{src.name}: max abs diff after round trip {diff:.2e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("converted"))
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for src in args.checkpoints:
        convert(src, args.out, args.size)


if __name__ == "__main__":
    main()
