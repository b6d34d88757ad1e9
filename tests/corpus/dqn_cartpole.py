"""DQN on CartPole with experience replay and a target network."""
import random
from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GAMMA, BATCH, EPS_START, EPS_END, EPS_DECAY, TAU, LR = 0.99, 128, 0.9, 0.05, 1000, 0.005, 1e-4


class QNet(nn.Module):
    def __init__(self, n_obs, n_actions):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_obs, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, n_actions))

    def forward(self, x):
        return self.net(x)


def main():
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    env = gym.make("CartPole-v1")
    n_actions = env.action_space.n
    state, _ = env.reset(seed=0)
    policy_net = QNet(len(state), n_actions).to(device)
    target_net = QNet(len(state), n_actions).to(device)
    target_net.load_state_dict(policy_net.state_dict())
    optimizer = torch.optim.AdamW(policy_net.parameters(), lr=LR, amsgrad=True)
    memory = deque(maxlen=10000)
    steps_done = 0

    for episode in range(600):
        state, _ = env.reset()
        state = torch.tensor(state, dtype=torch.float32, device=device).unsqueeze(0)
        for t in range(500):
            eps = EPS_END + (EPS_START - EPS_END) * np.exp(-steps_done / EPS_DECAY)
            steps_done += 1
            if random.random() > eps:
                with torch.no_grad():
                    action = policy_net(state).argmax(1).item()
            else:
                action = env.action_space.sample()
            obs, reward, terminated, truncated, _ = env.step(action)
            next_state = None if terminated else torch.tensor(obs, dtype=torch.float32, device=device).unsqueeze(0)
            memory.append((state, action, next_state, reward))
            state = next_state

            if len(memory) >= BATCH:
                policy_net.to(device)
                batch = random.sample(memory, BATCH)
                states = torch.cat([b[0] for b in batch])
                actions = torch.tensor([b[1] for b in batch], device=device).unsqueeze(1)
                rewards = torch.tensor([b[3] for b in batch], dtype=torch.float32, device=device)
                non_final = torch.tensor([b[2] is not None for b in batch], device=device)
                next_values = torch.zeros(BATCH, device=device)
                with torch.no_grad():
                    next_values[non_final] = target_net(torch.cat([b[2] for b in batch if b[2] is not None])).max(1).values
                q = policy_net(states).gather(1, actions).squeeze(1)
                loss = F.smooth_l1_loss(q, rewards + GAMMA * next_values)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_value_(policy_net.parameters(), 100)
                optimizer.step()
                with torch.no_grad():
                    for tp, pp in zip(target_net.parameters(), policy_net.parameters()):
                        tp.mul_(1 - TAU).add_(pp, alpha=TAU)
            if terminated or truncated:
                break
        if episode % 50 == 0:
            print(f"episode {episode}: lasted {t + 1} steps")
    torch.save(policy_net.state_dict(), "dqn_cartpole.pt")


if __name__ == "__main__":
    main()
