"""After the call: recordings of agent conversations (and, later, transcripts and QA)."""
