"""PPO on CartPole with shuffled minibatches drawn from each rollout (no DataLoader)."""
import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical

SEED = 3
torch.manual_seed(SEED)
np.random.seed(SEED)


class ActorCritic(nn.Module):
    def __init__(self, obs_dim, n_actions, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.pi = nn.Linear(hidden, n_actions)
        self.v = nn.Linear(hidden, 1)

    def forward(self, obs):
        h = self.body(obs)
        return Categorical(logits=self.pi(h)), self.v(h).squeeze(-1)


def gae(rewards, values, dones, last_value, gamma=0.99, lam=0.95):
    adv = torch.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):
        next_v = last_value if t == len(rewards) - 1 else values[t + 1]
        delta = rewards[t] + gamma * next_v * (1 - dones[t]) - values[t]
        running = delta + gamma * lam * (1 - dones[t]) * running
        adv[t] = running
    return adv, adv + values


env = gym.make("CartPole-v1")
obs, _ = env.reset(seed=SEED)
net = ActorCritic(env.observation_space.shape[0], env.action_space.n)
opt = torch.optim.Adam(net.parameters(), lr=2.5e-4, eps=1e-5)
T, EPOCHS, MB, CLIP = 2048, 10, 64, 0.2

for update in range(200):
    buf = {k: [] for k in ("obs", "act", "logp", "rew", "done", "val")}
    for _ in range(T):
        o = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            dist, v = net(o)
            a = dist.sample()
        obs, r, term, trunc, _ = env.step(a.item())
        for k, val in zip(buf, (o, a, dist.log_prob(a), torch.tensor(r), torch.tensor(float(term or trunc)), v)):
            buf[k].append(val)
        if term or trunc:
            obs, _ = env.reset()
    data = {k: torch.stack(v) for k, v in buf.items()}
    with torch.no_grad():
        _, last_v = net(torch.as_tensor(obs, dtype=torch.float32))
    adv, ret = gae(data["rew"], data["val"], data["done"], last_v)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)

    for _ in range(EPOCHS):
        perm = torch.randperm(T)
        for start in range(0, T, MB):
            idx = perm[start:start + MB]
            dist, v = net(data["obs"][idx])
            ratio = (dist.log_prob(data["act"][idx]) - data["logp"][idx]).exp()
            pg = -torch.min(ratio * adv[idx], ratio.clamp(1 - CLIP, 1 + CLIP) * adv[idx]).mean()
            loss = pg + 0.5 * (v - ret[idx]).pow(2).mean() - 0.01 * dist.entropy().mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 0.5)
            opt.step()
    if update % 10 == 0:
        print(f"update {update} mean return proxy {data['rew'].sum().item() / max(data['done'].sum().item(), 1):.1f}")
