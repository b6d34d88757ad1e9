# %% [markdown]
# # Evaluate the fine-tuned ResNet on the held-out test split
# Confusion matrix + per-class accuracy.

# %%
import numpy as np
import torch
import torchvision.transforms as transforms
from torch.utils.data import DataLoader
from torchvision import datasets, models

PATH = "checkpoints/resnet18_finetuned.pth"
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# %%
tf = transforms.Compose([
    transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])
test_set = datasets.ImageFolder("data/test", tf)
test_loader = DataLoader(test_set, batch_size=64, num_workers=4, pin_memory=True)
n_classes = len(test_set.classes)

# %%
model = models.resnet18(num_classes=n_classes)
model.load_state_dict(torch.load(PATH))
model = model.to(device)

# %%
confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)
for images, labels in test_loader:
    images = images.to(device)
    preds = model(images).argmax(dim=1).cpu()
    for t, p in zip(labels, preds):
        confusion[t, p] += 1

# %%
per_class = confusion.diag().float() / confusion.sum(1).clamp_min(1).float()
for name, acc in zip(test_set.classes, per_class.tolist()):
    print(f"{name:>20s}: {acc:.3f}")
print("overall accuracy:", (confusion.diag().sum() / confusion.sum()).item())
np.savetxt("confusion.csv", confusion.numpy(), fmt="%d", delimiter=",")

# %%
worst = per_class.argsort()[:3].tolist()
print("hardest classes:", [test_set.classes[i] for i in worst])
top_confusions = []
off_diag = confusion.clone()
off_diag.fill_diagonal_(0)
for _ in range(5):
    idx = off_diag.argmax()
    t, p = divmod(idx.item(), n_classes)
    top_confusions.append((test_set.classes[t], test_set.classes[p], off_diag[t, p].item()))
    off_diag[t, p] = 0
print(top_confusions)
