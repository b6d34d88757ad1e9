"""KernelBench-style reference modules: each defines `Model`, `get_inputs()` and `get_init_inputs()`."""
