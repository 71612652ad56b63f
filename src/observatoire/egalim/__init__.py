"""Egalim: quality and organic food purchases of the canteens (CRPM L.230-5-1).

Rooms: ``codes`` (vocabulary and label validity), ``importer`` (purchase-line files →
staging), ``compute`` (lines → yearly and monthly results in SQL), ``service`` (build step and
read side).
"""
