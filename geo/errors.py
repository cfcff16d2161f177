"""Exceptions that carry where a problem is, so the CLI can print it without a traceback."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Problem:
    """One problem found in an input file.

    Parameters
    ----------
    file : str
        Path of the file as the user named it.
    message : str
        What was found and what is expected.
    line, column : int or None
        1-based position in the file, where known.
    field : str or None
        Dotted path of the field (``places[3].kind``), where known.
    """

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        fld = f" [{self.field}]" if self.field else ""
        return f"{where}:{fld} {self.message}"


@dataclass
class InputError(Exception):
    """Bad user input: one or more problems, reported with exit status 2."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @classmethod
    def single(cls, file: str, message: str, **kw) -> InputError:
        """Build an error holding a single :class:`Problem`."""
        return cls([Problem(file=file, message=message, **kw)])


class GeoError(Exception):
    """A user-facing failure that is not bad input (missing network, nothing resolved)."""
