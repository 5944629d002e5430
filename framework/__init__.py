"""trainerbot: a plugin-driven Discord bot framework (hikari + lightbulb + pluggy).

What plugin authors import lives here and in ``framework.commands``.
"""

from framework.hookspecs import hookimpl

__all__ = ["hookimpl"]
