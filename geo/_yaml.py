"""YAML loading that remembers where every value came from.

PyYAML composes a node tree with start marks; we keep a map from the path of each value
(``("places", 3, "kind")``) to its (line, column), so that schema errors found later can
point at the exact spot in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

Pos = tuple[int, int]
PathKey = tuple[Any, ...]


class _StrictLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate mapping keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with << may be overridden; only explicit repeats are errors
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)  # flattens merge keys itself


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Dates stay strings here; the schema parses them, so errors name the field and line.
_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _index_positions(node: yaml.Node, path: PathKey, out: dict[PathKey, Pos]) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            # The key's own position is more useful for "missing"/"extra" errors on it.
            out[path + (key, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _index_positions(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_positions(item, path + (i,), out)


def load_yaml(path: str | Path) -> tuple[Any, dict[PathKey, Pos]]:
    """Read a UTF-8 YAML file and return its data and a path → (line, column) index.

    Parameters
    ----------
    path : str or Path
        The file to read.

    Returns
    -------
    data : Any
        The parsed document (dates are left as strings).
    positions : dict
        Maps a tuple path of keys/indices to a 1-based (line, column).

    Raises
    ------
    InputError
        On unreadable files, bytes that are not UTF-8, YAML syntax errors, duplicate keys and
        empty documents, each with the file and line.
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError.single(name, f"cannot read file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError.single(
            name,
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8; save the plan as UTF-8",
            line=line,
        ) from None
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        ctx = exc.context or ""
        if ctx and exc.context_mark is not None and exc.context_mark is not mark:
            # The parser chokes where it notices the problem; the cause often starts earlier.
            ctx += f" that starts at line {exc.context_mark.line + 1}"
        msg = ": ".join(s for s in (ctx, exc.problem) if s)
        raise InputError.single(
            name,
            f"YAML syntax error: {msg}",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise InputError.single(name, f"YAML error: {exc}") from None
    if node is None or data is None:
        raise InputError.single(name, "file is empty; expected a plan mapping", line=1)
    positions: dict[PathKey, Pos] = {}
    _index_positions(node, (), positions)
    return data, positions


def position_of(positions: dict[PathKey, Pos], loc: PathKey) -> Pos | None:
    """Best known position for ``loc``: the value itself, else its key, else the nearest parent."""
    loc = tuple(loc)
    for cut in range(len(loc), -1, -1):
        head = loc[:cut]
        if head in positions:
            if cut < len(loc) and head + (loc[cut], "__key__") in positions:
                return positions[head + (loc[cut], "__key__")]
            return positions[head]
    return None
