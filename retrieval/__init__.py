"""Citebot's retrieval core: documents, chunking, embedding, store, search, answers, citations.

Use it through ``retrieval.service.CitebotService``. This package never imports discord.
"""
