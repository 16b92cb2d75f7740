"""After the call: recordings of agent conversations, their transcripts, QA auto-checks and retention."""
