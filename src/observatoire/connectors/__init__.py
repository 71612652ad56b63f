"""Source kinds as connectors: one contract (:mod:`.contract`), one registry (:mod:`.registry`),
one landing loop for all of them (:func:`observatoire.connectors.ingest.land`)."""
