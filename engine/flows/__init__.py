"""IVR flows at run time: the pure interpreter, its facts and commands, the prompt inventory and the simulator.

The flow language itself (models, YAML loading, validation) is configuration: engine/config/.
This room imports config and language, never speech, the ACD or recording.
"""
