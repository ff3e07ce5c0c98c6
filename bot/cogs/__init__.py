"""One feature per cog; each module ends with ``async def setup(bot)``."""
