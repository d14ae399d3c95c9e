"""Front ends: they turn HTTP requests and WebSocket connections into calls on the engine."""
