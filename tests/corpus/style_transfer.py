"""Neural style transfer (Gatys et al.): optimise the pixels of an image against a frozen VGG-19."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import models, transforms
from torchvision.utils import save_image

CONTENT_LAYERS = {21}
STYLE_LAYERS = {0, 5, 10, 19, 28}


def load_image(path, size, device):
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor()])
    return tf(Image.open(path).convert("RGB")).unsqueeze(0).to(device)


def gram_matrix(feat):
    b, c, h, w = feat.shape
    f = feat.reshape(b * c, h * w)
    return (f @ f.t()) / (c * h * w)


class VGGFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        vgg = models.vgg19(weights=models.VGG19_Weights.IMAGENET1K_V1).features.eval()
        self.layers = vgg[: max(STYLE_LAYERS | CONTENT_LAYERS) + 1]
        self.layers.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x):
        x = (x - self.mean) / self.std
        content, style = {}, {}
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in CONTENT_LAYERS:
                content[i] = x
            if i in STYLE_LAYERS:
                style[i] = gram_matrix(x)
        return content, style


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--style-weight", type=float, default=1e6)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    extractor = VGGFeatures().to(device)
    content_img = load_image(args.content, args.size, device)
    style_img = load_image(args.style, args.size, device)
    with torch.no_grad():
        content_targets, _ = extractor(content_img)
        _, style_targets = extractor(style_img)

    image = content_img.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image])
    step = [0]

    def closure():
        optimizer.zero_grad()
        content, style = extractor(image)
        c_loss = sum(F.mse_loss(content[i], content_targets[i]) for i in CONTENT_LAYERS)
        s_loss = sum(F.mse_loss(style[i], style_targets[i]) for i in STYLE_LAYERS)
        loss = c_loss + args.style_weight * s_loss
        loss.backward()
        step[0] += 1
        return loss

    while step[0] < args.steps:
        optimizer.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
    save_image(image.detach().cpu(), "stylized.png")


if __name__ == "__main__":
    main()
