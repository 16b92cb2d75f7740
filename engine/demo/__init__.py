"""`threadline run --demo`: the sample contact centre out of the box. Demo data only: never for real deployments.

It owns the demo's settings preset, its CRM of sample customers and the one-time credentials it
prints; the engine itself runs unchanged (engine/app.py only starts and announces it).
"""
