"""Benchmark and export a trained classifier for fp16 inference (TorchScript + ONNX)."""
import argparse
import time

import torch
import torchvision


def load_model(path, num_classes):
    model = torchvision.models.resnet50(num_classes=num_classes)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


@torch.inference_mode()
def latency(model, x, iters=100):
    for _ in range(10):
        model(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        model(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--out", default="resnet50_fp16")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    model = load_model(args.weights, args.classes).to(device)
    x = torch.randn(args.batch, 3, 224, 224, device=device)
    with torch.inference_mode():
        ref = model(x)
    fp32_ms = latency(model, x)

    if device.type == "cuda":
        model_half = model.half()
        x_half = x.half()
        with torch.inference_mode():
            out = model_half(x_half).float()
        max_err = (out - ref).abs().max().item()
        fp16_ms = latency(model_half, x_half)
        print(f"fp32 {fp32_ms:.2f} ms  fp16 {fp16_ms:.2f} ms  max |diff| {max_err:.3e}")
        example = x_half[:1]
    else:
        model_half = model
        example = x[:1]
        print(f"cpu only: fp32 {fp32_ms:.2f} ms (no fp16 export)")

    traced = torch.jit.trace(model_half, example)
    traced.save(f"{args.out}.pt")
    torch.onnx.export(model_half, example, f"{args.out}.onnx", input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
    print("exported", f"{args.out}.pt", f"{args.out}.onnx")


if __name__ == "__main__":
    main()
