"""Compare eager attention with scaled_dot_product_attention and a compiled block (GPU timing)."""
import argparse
import time

import torch
import torch.nn.functional as F


def eager_attention(q, k, v, causal=True):
    scale = q.size(-1) ** -0.5
    scores = (q @ k.transpose(-2, -1)) * scale
    if causal:
        n = q.size(-2)
        mask = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def sdpa(q, k, v, causal=True):
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def bench(fn, *args, iters=50, warmup=10):
    for _ in range(warmup):
        fn(*args)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn(*args)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters * 1e3


def bench_events(fn, *args, iters=50):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn(*args)
    start.record()
    for _ in range(iters):
        fn(*args)
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--dtype", default="bf16", choices=["fp16", "bf16", "fp32"])
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a GPU")
    torch.backends.cudnn.benchmark = True
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    compiled = torch.compile(eager_attention)

    print(f"{'seq':>6} {'eager ms':>10} {'sdpa ms':>10} {'compiled ms':>12} {'events ms':>10}")
    for n in args.seq:
        q, k, v = (torch.randn(4, args.heads, n, args.dim, device="cuda", dtype=dtype) for _ in range(3))
        with torch.inference_mode():
            out_ref = eager_attention(q, k, v)
            err = (sdpa(q, k, v) - out_ref).abs().max().item()
            t_eager = bench(eager_attention, q, k, v)
            t_sdpa = bench(sdpa, q, k, v)
            t_comp = bench(compiled, q, k, v)
            t_ev = bench_events(sdpa, q, k, v)
        print(f"{n:>6} {t_eager:>10.3f} {t_sdpa:>10.3f} {t_comp:>12.3f} {t_ev:>10.3f}   max|diff| {err:.2e}")
        del q, k, v
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
