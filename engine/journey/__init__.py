"""The journey: every call's ordered events, as a schema (events.py and its models) and the one
ordered writer per call (journey_writer.py). KPIs, reports, the pop and restarts read it back."""
