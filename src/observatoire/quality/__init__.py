"""Quality: value cleaning and the catalogue of named rules that produce findings."""
