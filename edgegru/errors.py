"""The one exception type users see.

Every problem caused by the user's input (a file, a flag, a model) is raised as
:class:`EdgeGruError` with a one-line message that names the file, field or value
and says what was expected. The CLI prints that line and exits non-zero without a
traceback; anything else escaping is a bug in edgegru.
"""


class EdgeGruError(Exception):
    """A problem with the user's input, reported as one clear line."""
