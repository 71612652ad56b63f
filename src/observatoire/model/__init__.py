"""Model: the warehouse build, from staged records to canonical, documented tables."""
