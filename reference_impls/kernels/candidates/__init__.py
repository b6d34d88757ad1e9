"""Example candidates (`ModelNew`) for the shipped KernelBench-style references."""
