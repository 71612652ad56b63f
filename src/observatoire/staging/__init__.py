"""Staging: source files parsed by streaming into one canonical record shape, raw values kept."""
