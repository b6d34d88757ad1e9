"""Micro-benchmark of attention kernels on one GPU (CUDA only by design: timings use CUDA events)."""
import argparse

import torch
import torch.nn.functional as F


def naive_attention(q, k, v):
    scores = q @ k.transpose(-2, -1) * q.size(-1) ** -0.5
    return torch.softmax(scores, dim=-1) @ v


def time_cuda(fn, *args, warmup=10, iters=50):
    for _ in range(warmup):
        fn(*args)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn(*args)
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters  # ms


@torch.inference_mode()
def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    assert torch.cuda.is_available(), "this benchmark needs a CUDA device"
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"device: {torch.cuda.get_device_name()}")
    for seq in (512, 1024, 2048, 4096):
        shape = (args.batch, args.heads, seq, args.dim)
        q, k, v = (torch.randn(shape, device="cuda", dtype=torch.float16) for _ in range(3))
        t_naive = time_cuda(naive_attention, q, k, v)
        t_sdpa = time_cuda(F.scaled_dot_product_attention, q, k, v)
        x = torch.randn(args.batch, seq, args.heads * args.dim, device="cuda")
        proj = torch.nn.Linear(args.heads * args.dim, args.heads * args.dim).cuda()
        with torch.autocast(device_type="cuda", dtype=torch.float16):
            t_proj = time_cuda(proj, x)
        err = (naive_attention(q, k, v) - F.scaled_dot_product_attention(q, k, v)).abs().max().item()
        print(f"T={seq:5d}  naive {t_naive:7.3f} ms  sdpa {t_sdpa:7.3f} ms  "
              f"speed-up {t_naive / t_sdpa:5.2f}x  proj(fp16) {t_proj:6.3f} ms  max err {err:.1e}")


if __name__ == "__main__":
    main()
