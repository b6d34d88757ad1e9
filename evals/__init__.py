"""The eval harness: tasks, agents, scoring, reports."""
