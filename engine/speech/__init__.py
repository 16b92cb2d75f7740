"""Speech: prompts rendered to audio (text-to-speech) and caller audio to text (offline recognisers)."""
