"""The Journey API: tokens, REST routes under /api/v1, webhooks and the events websocket, its OpenAPI document."""
