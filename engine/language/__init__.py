"""Language: words and intent matching shared by speech, typed text and the ACD.

What a caller's words mean (intent scores, yes and no) and which words a speech model knows.
It imports no other engine room: speech, flows, config and the ACD all build on it.
"""
