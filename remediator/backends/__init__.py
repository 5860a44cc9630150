"""Backends: the only modules that talk to the outside (Docker Engine, Compose CLI, HTTP, files)."""
