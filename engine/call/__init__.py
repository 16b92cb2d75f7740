"""Call control: one CallSession per caller channel, the only task that commands that channel.

`stasis.py` takes Asterisk's events in and hands each call's to its session; `call_session.py`
carries out commands on the caller's channel under one failure policy; `flow_driver.py` runs the
caller's IVR flow inside that session; `arrival_order.py` answers callers in the order they came;
`flow_services.py` pairs the configuration bundle with the live services flows use, and reloads it.
"""
