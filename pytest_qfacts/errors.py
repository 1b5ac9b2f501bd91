"""Errors that pytest-qfacts raises for bad input.

Every error says what was wrong (file, line, field or option) and what would be
accepted. ``QFactsUsageError`` is shown to the user as a one-paragraph message,
never as a traceback.
"""


class QFactsError(Exception):
    """Base class of every error raised by pytest-qfacts."""


class QFactsUsageError(QFactsError):
    """Bad input from the user: an option, a recipe, an alias, a suite file."""


class SuiteError(QFactsUsageError):
    """A fact suite that cannot be read or does not match the schema.

    ``str(err)`` reads ``FILE:LINE: field 'PATH': problem; expected ...``.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = path, line, field
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}{what}{message}")


class RecipeError(QFactsUsageError):
    """A quantization recipe string that does not parse or cannot be applied."""


class ModelNotFoundError(QFactsUsageError):
    """A model alias, id or path that cannot be resolved or loaded."""


class ModelLoadError(QFactsUsageError):
    """A model that was found but cannot be loaded: a corrupt file, a folder without weights, a broken config."""


def describe_exception(err: BaseException) -> str:
    """``"TypeName: first line of the message"`` (``"TypeName"`` alone for an empty message): how a
    library's exception is quoted inside a one-paragraph error, without its traceback."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
