"""The web dashboard: server-rendered pages over the service layer, under `/ui`."""
