"""Observatoire de l'achat public: public procurement data observatory."""

__version__ = "0.1.0"
