"""Citebot's command line (a thin layer over ``retrieval.service``)."""
