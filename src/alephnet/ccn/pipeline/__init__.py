"""The message pipeline: intake (durable queue) → processing (verify, fetch, permissions,
balance, type handler) → result, published as events to the API (sync answers, WebSocket)."""
