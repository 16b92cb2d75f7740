"""Configuration: what operators write (flows, procedures, queues, agents, QA cards), parsed and validated.

Every problem is reported at its file:line:column. Nothing here holds a live service (no HTTP,
speech model, distributor or prompt cache): `config_bundle.py` is one frozen version of it all,
and engine/call/flow_services.py adds the live parts calls need.
"""
