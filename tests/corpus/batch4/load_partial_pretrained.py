"""Initialise a detector backbone from a classification checkpoint (head keys differ on purpose)."""
import argparse
import logging

import torch
import torch.nn as nn

log = logging.getLogger("init")


class ConvBNAct(nn.Sequential):
    def __init__(self, cin, cout, k=3, s=1):
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU(inplace=True))


class Backbone(nn.Module):
    def __init__(self, widths=(32, 64, 128, 256, 512)):
        super().__init__()
        layers, cin = [], 3
        for i, w in enumerate(widths):
            layers.append(ConvBNAct(cin, w, s=2))
            layers.append(ConvBNAct(w, w))
            cin = w
        self.stages = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, 1000)

    def forward(self, x):
        return self.stages(x)


class Detector(nn.Module):
    def __init__(self, num_classes=80, num_anchors=3):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Conv2d(512, num_anchors * (5 + num_classes), 1)
        self.register_buffer("stride", torch.tensor(32.0))

    def forward(self, x):
        return self.head(self.backbone(x))


def load_backbone(model, path, device="cpu"):
    state = torch.load(path, map_location=device, weights_only=True)
    state = state.get("state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    result = model.backbone.load_state_dict(state, strict=False)
    allowed_missing = {"classifier.weight", "classifier.bias"}
    really_missing = [k for k in result.missing_keys if k not in allowed_missing]
    if really_missing:
        raise RuntimeError(f"backbone checkpoint is missing {len(really_missing)} keys, e.g. {really_missing[:5]}")
    if result.unexpected_keys:
        log.warning("ignored %d unexpected keys: %s", len(result.unexpected_keys), result.unexpected_keys[:5])
    return model


def main():
    logging.basicConfig(level=logging.INFO)
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="pretrained/backbone_cls.pth")
    ap.add_argument("--out", default="pretrained/detector_init.pth")
    args = ap.parse_args()
    model = load_backbone(Detector(), args.weights)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("detector initialised: %.1fM params", n_params / 1e6)
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, 640, 640))
    log.info("output grid %s", tuple(out.shape))
    torch.save(model.state_dict(), args.out)


if __name__ == "__main__":
    main()
