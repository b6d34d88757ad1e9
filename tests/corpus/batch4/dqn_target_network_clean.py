"""DQN on LunarLander with a replay buffer, a target network and Huber loss."""
import random
from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 0
random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class QNet(nn.Module):
    def __init__(self, obs, n_act):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_act))

    def forward(self, x):
        return self.net(x)


class Replay:
    def __init__(self, cap=100_000):
        self.buf = deque(maxlen=cap)

    def push(self, *t):
        self.buf.append(t)

    def sample(self, n):
        batch = random.sample(self.buf, n)
        s, a, r, s2, d = map(np.array, zip(*batch))
        return (torch.as_tensor(s, dtype=torch.float32, device=device), torch.as_tensor(a, device=device),
                torch.as_tensor(r, dtype=torch.float32, device=device),
                torch.as_tensor(s2, dtype=torch.float32, device=device),
                torch.as_tensor(d, dtype=torch.float32, device=device))

    def __len__(self):
        return len(self.buf)


env = gym.make("LunarLander-v3")
policy = QNet(env.observation_space.shape[0], env.action_space.n).to(device)
target = QNet(env.observation_space.shape[0], env.action_space.n).to(device)
target.load_state_dict(policy.state_dict())
target.eval()
opt = torch.optim.Adam(policy.parameters(), lr=5e-4)
memory = Replay()
gamma, batch_size, eps = 0.99, 128, 1.0
obs, _ = env.reset(seed=SEED)
episode_return, returns = 0.0, []

for step in range(300_000):
    if random.random() < eps:
        action = env.action_space.sample()
    else:
        with torch.no_grad():
            action = policy(torch.as_tensor(obs, dtype=torch.float32, device=device)).argmax().item()
    nxt, reward, term, trunc, _ = env.step(action)
    memory.push(obs, action, reward, nxt, float(term))
    obs, episode_return = nxt, episode_return + reward
    if term or trunc:
        returns.append(episode_return)
        obs, _ = env.reset()
        episode_return = 0.0
    eps = max(0.05, eps * 0.99995)

    if len(memory) >= 10_000 and step % 4 == 0:
        s, a, r, s2, d = memory.sample(batch_size)
        q = policy(s).gather(1, a.long().unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            best = policy(s2).argmax(1, keepdim=True)
            q_next = target(s2).gather(1, best).squeeze(1)
        loss = F.smooth_l1_loss(q, r + gamma * (1 - d) * q_next)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_value_(policy.parameters(), 10.0)
        opt.step()
    if step % 1000 == 0:
        target.load_state_dict(policy.state_dict())
    if step % 10_000 == 0 and returns:
        print(f"step {step} eps {eps:.3f} mean return (last 20) {np.mean(returns[-20:]):.1f}")

torch.save(policy.state_dict(), "dqn_lunar.pt")
