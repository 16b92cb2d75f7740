"""The customer web chat: the same flows as the phone, in text (engine/chat/chat_conversation.py decides)."""
