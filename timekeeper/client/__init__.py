"""The `timekeeper` CLI's client commands: every user operation over the HTTP API."""
