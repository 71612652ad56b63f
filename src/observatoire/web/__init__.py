"""The public web side: Django pages, their .json/.csv twins, read from the warehouse in service."""
