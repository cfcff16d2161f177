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


#: Deepest nesting of lists/mappings a plan may use (the schema needs about six levels).
MAX_DEPTH = 64
#: Most values a plan may hold once aliases are expanded (the bundled plans hold a few thousand);
#: caps "billion laughs" alias bombs.
MAX_NODES = 200_000
#: Largest plan file read, in bytes.
MAX_BYTES = 8 * 1024 * 1024

# libyaml's C parser when PyYAML was built with it (about ten times faster), else pure Python.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader that refuses duplicate mapping keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # keys merged in with << may be overridden; only explicit repeats are errors
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # a list or mapping used as a key
            raise yaml.constructor.ConstructorError(
                None, None, "a list or mapping cannot be a key", key_node.start_mark
            ) from None
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {first.start_mark.line + 1})",
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


class _Refused(Exception):
    """A plan shape we refuse (too deep, too many values, bad alias), with its mark."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.mark = mark


def _compose(loader: _StrictLoader) -> yaml.Node | None:
    """Compose the document from the parser's events without recursion.

    PyYAML's own composers recurse (the C one crashes the interpreter on deep nesting) and
    expand nothing but let aliases multiply the work of every later walk; this one stops at
    :data:`MAX_DEPTH` levels and :data:`MAX_NODES` values (aliases counted as expanded), and
    binds an anchor only once its node is complete, so ``&r [*r]`` is an undefined alias.
    """
    ev = yaml.events
    loader.get_event()  # StreamStart
    if loader.check_event(ev.StreamEndEvent):
        loader.get_event()
        return None
    loader.get_event()  # DocumentStart
    anchors: dict[str, tuple[yaml.Node, int]] = {}
    # (node, anchor, size so far, pending key) for each open collection
    stack: list[list[Any]] = []
    root: yaml.Node | None = None
    total = 0

    def attach(node: yaml.Node, size: int, mark: Any) -> None:
        nonlocal root, total
        total += size
        if total > MAX_NODES:
            raise _Refused(
                f"the document expands to more than {MAX_NODES} values; aliases nest too deep", mark
            )
        if not stack:
            root = node
            return
        top = stack[-1]
        top[2] += size
        if isinstance(top[0], yaml.SequenceNode):
            top[0].value.append(node)
        elif top[3] is None:
            top[3] = (node,)
        else:
            top[0].value.append((top[3][0], node))
            top[3] = None

    while not loader.check_event(ev.DocumentEndEvent):
        event = loader.get_event()
        if isinstance(event, ev.AliasEvent):
            if event.anchor not in anchors:
                raise _Refused(f"alias *{event.anchor} names no complete anchor above it", event.start_mark)
            node, size = anchors[event.anchor]
            attach(node, size, event.start_mark)
        elif isinstance(event, ev.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            if event.anchor is not None:
                anchors[event.anchor] = (node, 1)
            attach(node, 1, event.start_mark)
        elif isinstance(event, (ev.SequenceStartEvent, ev.MappingStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise _Refused(f"lists and mappings nest deeper than {MAX_DEPTH} levels", event.start_mark)
            seq = isinstance(event, ev.SequenceStartEvent)
            kind = yaml.SequenceNode if seq else yaml.MappingNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            stack.append([node, event.anchor, 1, None])
        else:  # SequenceEnd / MappingEnd
            node, anchor, size, _ = stack.pop()
            node.end_mark = event.end_mark
            if anchor is not None:
                anchors[anchor] = (node, size)
            total -= size - 1  # the children were counted as they came
            attach(node, size, node.start_mark)
    loader.get_event()  # DocumentEnd
    if not loader.check_event(ev.StreamEndEvent):
        raise _Refused("expected one document, found a second (---)", loader.peek_event().start_mark)
    return root


def _index_positions(root: yaml.Node, out: dict[PathKey, Pos]) -> None:
    """Fill ``out`` with the position of every value and key, walking without recursion."""
    todo: list[tuple[yaml.Node, PathKey]] = [(root, ())]
    while todo:
        node, path = todo.pop()
        if path in out:
            continue  # an alias reached the same spot already
        out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                if not isinstance(key, str):
                    continue  # a collection as key: the constructor refuses it with a position
                # The key's own position is more useful for "missing"/"extra" errors on it.
                out[path + (key, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                todo.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, path + (i,)) for i, item in enumerate(node.value))


def load_yaml(path: str | Path) -> tuple[Any, dict[PathKey, Pos]]:
    """Read a UTF-8 YAML file and return its data and a path → (line, column) index.

    The file is parsed once (with libyaml where available); aliases are allowed but capped
    (:data:`MAX_NODES` values once expanded), and so is nesting (:data:`MAX_DEPTH`).

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
        On unreadable or oversized files, bytes that are not UTF-8, YAML syntax errors,
        duplicate keys, nesting or aliases beyond the caps and empty documents, each with the
        file and line.
    """
    name = str(path)
    try:
        with Path(path).open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError.single(name, f"cannot read file: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise InputError.single(name, f"file is larger than {MAX_BYTES // 2**20} MB; a plan is far smaller")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError.single(
            name,
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8; save the plan as UTF-8",
            line=line,
        ) from None
    loader = _StrictLoader(text)
    try:
        node = _compose(loader)
        positions: dict[PathKey, Pos] = {}
        if node is not None:
            _index_positions(node, positions)
            data = loader.construct_document(node)
    except _Refused as exc:
        raise InputError.single(
            name, f"YAML refused: {exc}", line=exc.mark.line + 1, column=exc.mark.column + 1
        ) from None
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
    finally:
        loader.dispose()
    if node is None or data is None:
        raise InputError.single(name, "file is empty; expected a plan mapping", line=1)
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
