"""Landing: every ingested file, stored unchanged and addressed by its content; the load log."""
