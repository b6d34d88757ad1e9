#!/usr/bin/env python
# coding: utf-8

# # MNIST baseline
# Exported from `mnist_baseline.ipynb`.

# In[1]:


import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torchvision import datasets, transforms

torch.manual_seed(42)
np.random.seed(42)
device = "cuda" if torch.cuda.is_available() else "cpu"
device


# In[2]:


transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_ds = datasets.MNIST("../data", train=True, download=True, transform=transform)
test_ds = datasets.MNIST("../data", train=False, transform=transform)
train_loader = torch.utils.data.DataLoader(train_ds, batch_size=64, shuffle=True)
test_loader = torch.utils.data.DataLoader(test_ds, batch_size=1000, shuffle=False)
len(train_ds), len(test_ds)


# In[3]:


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


model = Net().to(device)
optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)


# In[4]:


history = {"train_loss": [], "test_acc": []}
for epoch in range(1, 15):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 200 == 0:
            history["train_loss"].append(loss.item())

    model.eval()
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            correct += model(data).argmax(dim=1).eq(target).sum().item()
    history["test_acc"].append(correct / len(test_ds))
    print(f"epoch {epoch}: test acc {history['test_acc'][-1]:.4f}")
    scheduler.step()


# In[5]:


fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].plot(history["train_loss"])
axes[0].set_title("train loss")
axes[1].plot(history["test_acc"])
axes[1].set_title("test accuracy")
plt.show()
torch.save(model.state_dict(), "mnist_cnn.pt")
