"""REINFORCE with a learned baseline on CartPole (policy gradient, one update per episode)."""
import argparse

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Categorical


class Policy(nn.Module):
    def __init__(self, n_obs=4, n_actions=2, hidden=128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_obs, hidden), nn.ReLU(), nn.Dropout(0.1))
        self.action_head = nn.Linear(hidden, n_actions)
        self.value_head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = self.body(x)
        return F.softmax(self.action_head(h), dim=-1), self.value_head(h).squeeze(-1)


def discounted_returns(rewards, gamma):
    returns, running = [], 0.0
    for r in reversed(rewards):
        running = r + gamma * running
        returns.insert(0, running)
    returns = torch.tensor(returns, dtype=torch.float32)
    return (returns - returns.mean()) / (returns.std() + 1e-8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=543)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    env = gym.make("CartPole-v1")
    policy = Policy()
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-2)
    running_reward = 10.0

    for episode in range(args.episodes):
        state, _ = env.reset(seed=int(rng.integers(1 << 31)))
        log_probs, values, rewards = [], [], []
        for t in range(1, 10000):
            probs, value = policy(torch.from_numpy(state).float())
            dist = Categorical(probs)
            action = dist.sample()
            log_probs.append(dist.log_prob(action))
            values.append(value)
            state, reward, terminated, truncated, _ = env.step(int(action))
            rewards.append(reward)
            if terminated or truncated:
                break
        returns = discounted_returns(rewards, args.gamma)
        log_probs, values = torch.stack(log_probs), torch.stack(values)
        advantage = returns - values.detach()
        loss = -(log_probs * advantage).sum() + F.smooth_l1_loss(values, returns)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        running_reward = 0.05 * sum(rewards) + 0.95 * running_reward
        if episode % 10 == 0:
            print(f"episode {episode}\tlast length {t}\trunning reward {running_reward:.2f}")
        if running_reward > env.spec.reward_threshold:
            print(f"solved after {episode} episodes")
            break
    torch.save(policy.state_dict(), "reinforce_policy.pt")


if __name__ == "__main__":
    main()
