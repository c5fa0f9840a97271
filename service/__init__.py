"""What a user can do: projects, agents, triggers and runs, as plain operations.

Every surface (the JSON API, the dashboard, the CLI over the API, the audit) calls these. They
raise the domain errors of `service.errors` and know nothing of HTTP.
"""
