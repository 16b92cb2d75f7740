"""Asterisk adapters: the ARI REST client, the events websocket Asterisk opens to the engine, AMI."""
