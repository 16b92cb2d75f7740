"""IVR flows: the YAML language operators write, its validation, and (next) the pure interpreter."""
