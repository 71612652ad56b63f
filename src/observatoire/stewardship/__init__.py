"""Data stewardship: accounts and roles, corrections (redressements) with their audit trail.

Two halves that never import each other's heavy side:

- the **build side** (``database``, ``store``, ``apply``): plain SQL through the DB-API driver
  (sqlite3 or psycopg), so that ``observatoire build`` reads the corrections without Django;
- the **Django side** (``models``, ``services``, ``permissions``, ``views``): the application
  database managed by Django's ORM and migrations, and the authenticated pages under
  ``/gestion/``.
"""
