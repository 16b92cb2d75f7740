"""Automatic call distribution: queues, agents, routing, a queued call's life, KPIs and reports.

Pure cores decide (queued_call.py, router.py, agent_state.py, callback_numbers.py,
contact_metrics.py, wait_estimate.py, wait_announcements.py, screen_pop.py); call_distributor.py
and agent_side.py carry their commands out. Nothing here commands a caller's channel: caller
commands go to the caller's CallSession (see docs/architecture.md, "one caller, one owner").
"""
