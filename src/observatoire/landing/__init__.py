"""Landing: every ingested file, stored unchanged and addressed by its content, plus the load log."""
