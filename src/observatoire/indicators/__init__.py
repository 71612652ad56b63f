"""SPASER indicators: a declarative catalogue computed in SQL with its evidence."""
