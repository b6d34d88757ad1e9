"""LoRA adapters for the attention projections of a frozen causal LM; bf16 autocast, accumulation."""
import math

import torch
import torch.nn as nn
from torch.utils.data import DataLoader


class LoRALinear(nn.Linear):
    def __init__(self, in_features, out_features, r=8, alpha=16, **kwargs):
        super().__init__(in_features, out_features, **kwargs)
        self.lora_a = nn.Parameter(torch.empty(r, in_features))
        self.lora_b = nn.Parameter(torch.zeros(out_features, r))
        self.scaling = alpha / r
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x):
        return super().forward(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scaling


def add_lora(model, target_names=("q_proj", "v_proj"), r=8):
    model.requires_grad_(False)
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in target_names and isinstance(child, nn.Linear):
                lora = LoRALinear(child.in_features, child.out_features, r=r, bias=child.bias is not None)
                lora.load_state_dict(child.state_dict(), strict=False)
                lora.weight.requires_grad_(False)
                if lora.bias is not None:
                    lora.bias.requires_grad_(False)
                setattr(module, child_name, lora)
    return model


def lora_state_dict(model):
    return {k: v for k, v in model.state_dict().items() if "lora_" in k}


def train(model, dataset, device, epochs=2, accum=16, lr=2e-4, seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=2, pin_memory=device.type == "cuda",
                        generator=g)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    model.to(device)
    for epoch in range(epochs):
        model.train()
        running = torch.zeros((), device=device)
        for step, batch in enumerate(loader):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                loss = model(**batch).loss / accum
            loss.backward()
            running += loss.detach()
            if (step + 1) % accum == 0:
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if (step + 1) % (accum * 10) == 0:
                print(f"epoch {epoch} step {step + 1}: loss {running.item() * accum / (step + 1):.4f}")
    torch.save(lora_state_dict(model), "lora_adapter.pt")
    return model
