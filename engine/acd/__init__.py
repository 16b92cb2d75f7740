"""Automatic call distribution: queues, agents, the router and agent state."""
