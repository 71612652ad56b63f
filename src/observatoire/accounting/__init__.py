"""Readers of the buyer's own finance flows: PES V2 (Aller, Marché, Retour), Chorus, Chorus Pro,
mapped exports. Each reader turns one file into the staging rows of :mod:`.staging`."""
