"""Neural style transfer (Gatys et al.) optimising the image with L-BFGS and a closure."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import models, transforms
from torchvision.utils import save_image

CONTENT_LAYERS = {"conv4_2"}
STYLE_LAYERS = {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"}
NAMES = ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
         "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4", "pool3",
         "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4", "pool4",
         "conv5_1"]


def load(path, size, device):
    tf = transforms.Compose([transforms.Resize(size), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return tf(Image.open(path).convert("RGB")).unsqueeze(0).to(device)


def features(vgg, x):
    out = {}
    for name, layer in zip(NAMES, vgg):
        x = layer(x)
        if name in CONTENT_LAYERS | STYLE_LAYERS:
            out[name] = x
    return out


def gram(f):
    b, c, h, w = f.shape
    f = f.view(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("content")
    ap.add_argument("style")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--style-weight", type=float, default=1e6)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    vgg = models.vgg19(weights=models.VGG19_Weights.DEFAULT).features[: len(NAMES)].to(device).eval()
    for p in vgg.parameters():
        p.requires_grad_(False)
    for i, m in enumerate(vgg):
        if isinstance(m, nn.ReLU):
            vgg[i] = nn.ReLU(inplace=False)

    content, style = load(args.content, args.size, device), load(args.style, args.size, device)
    with torch.no_grad():
        c_feats = {k: v for k, v in features(vgg, content).items() if k in CONTENT_LAYERS}
        s_grams = {k: gram(v) for k, v in features(vgg, style).items() if k in STYLE_LAYERS}
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], max_iter=1)

    for step in range(args.steps):
        def closure():
            optimizer.zero_grad()
            feats = features(vgg, image)
            c_loss = sum(F.mse_loss(feats[k], c_feats[k]) for k in CONTENT_LAYERS)
            s_loss = sum(F.mse_loss(gram(feats[k]), s_grams[k]) for k in STYLE_LAYERS)
            loss = c_loss + args.style_weight * s_loss
            loss.backward()
            return loss
        loss = optimizer.step(closure)
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.2f}")
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    save_image((image.detach() * std + mean).clamp(0, 1), "stylised.png")


if __name__ == "__main__":
    main()
