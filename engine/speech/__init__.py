"""Speech: prompts rendered to audio (text-to-speech) and, next, caller audio to text."""
