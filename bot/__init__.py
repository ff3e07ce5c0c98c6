"""The Discord layer of Citebot: parses, checks permissions, calls the service API, renders.

No retrieval code lives here: everything goes through ``retrieval.service.CitebotService``.
"""
