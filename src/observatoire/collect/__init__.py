"""Continuous collection: the sources a deployment profile declares (``sources.toml``), pulled
or picked up when due, ingested under their own source name, then built once per round."""
