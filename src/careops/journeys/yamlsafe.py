"""Read untrusted YAML safely and remember where every value came from.

Journey files are written by people and may be hostile. The loader:
- refuses files over `MAX_BYTES` before parsing;
- walks the parser's events first (an iterative state machine, no recursion) and refuses
  nesting deeper than `MAX_DEPTH` or more than `MAX_EVENTS` events, so a deep `[[[[…` never
  reaches the recursive composer;
- builds plain Python values (dict, list, str, int, float, bool, None) itself from the composed
  node graph, counting every value it builds: aliases are expanded, so an alias bomb ("billion
  laughs") stops at `MAX_NODES` instead of exhausting memory;
- accepts only the standard scalar tags (str, int, float, bool, null); `!!python/…` and any
  other explicit tag are refused, nothing is ever constructed from a tag;
- records the line and column (1-based) of each value by its path (`("steps", 0, "wait")`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_EVENTS = 200_000
MAX_NODES = 100_000

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
Path = tuple[str | int, ...]


class YamlProblem(Exception):
    """The text cannot be read as safe YAML; `line`/`column` are 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Located:
    """The Python value of a YAML document and the (line, column) of each path in it."""

    data: Any
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    scalars: dict[Path, tuple[int, int, str | None]] = field(default_factory=dict)

    def text_mark(self, path: Path, offset: int) -> tuple[int, int]:
        """Position of character `offset` of the string at `path`: exact for a one-line plain
        or quoted scalar, else the start of the value (or of its key)."""
        found = self.scalars.get(path)
        value = self.data
        try:
            for part in path:
                value = value[part]
        except (KeyError, IndexError, TypeError):
            value = None
        if found is None or not isinstance(value, str) or "\n" in value:
            return self.mark(path)
        line, column, style = found
        if style in (None, "'", '"'):
            quoted = 1 if style else 0
            raw_offset = offset if style != '"' or "\\" not in value else 0
            return (line, column + quoted + raw_offset)
        return (line, column)

    def mark(self, path: Path) -> tuple[int, int]:
        """Position of the deepest prefix of `path` that has one (the document start else)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.marks:
                return self.marks[path[:end]]
        return (1, 1)


def _pos(node_or_mark: Any) -> tuple[int, int]:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _precheck(text: str) -> None:
    depth = events = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            events += 1
            if events > MAX_EVENTS:
                raise YamlProblem(
                    f"文件结构过多 / more than {MAX_EVENTS:,} YAML elements", *_pos(event)
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlProblem(
                        f"嵌套过深 / nested deeper than {MAX_DEPTH} levels", *_pos(event)
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent) and events > 2:
                raise YamlProblem("只允许一个文档 / only one YAML document per file", *_pos(event))
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(
            f"YAML 语法错误 / YAML syntax error: {exc.problem or exc.context}",
            *_pos(exc.problem_mark or exc.context_mark),
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML 语法错误 / YAML syntax error: {exc}") from None


def load(text: str | bytes) -> Located:
    """Parse one YAML document into plain values with their positions (see module docstring)."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise YamlProblem(f"文件过大 / file larger than {MAX_BYTES:,} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlProblem(f"不是 UTF-8 文本 / not UTF-8 text (byte {exc.start})") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlProblem(f"文件过大 / file larger than {MAX_BYTES:,} bytes")
    _precheck(text)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem(
            f"YAML 语法错误 / YAML syntax error: {exc.problem or exc.context}",
            *_pos(exc.problem_mark or exc.context_mark),
        ) from None
    finally:
        loader.dispose()
    out = Located(None)
    if root is None:
        return out
    budget = [MAX_NODES]
    out.data = _build(root, (), out.marks, budget, loader, 0, out.scalars)
    return out


def _build(
    node: Node,
    path: Path,
    marks: dict,
    budget: list[int],
    loader: yaml.SafeLoader,
    depth: int,
    scalars: dict | None = None,
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem(
            f"展开后元素过多(别名炸弹?) / more than {MAX_NODES:,} values once aliases are "
            "expanded (an alias bomb?)",
            *_pos(node),
        )
    if depth > MAX_DEPTH:  # aliases can nest beyond what the parser saw
        raise YamlProblem(f"嵌套过深 / nested deeper than {MAX_DEPTH} levels", *_pos(node))
    marks.setdefault(path, _pos(node))
    if isinstance(node, ScalarNode) and scalars is not None:
        scalars[path] = (*_pos(node), node.style)
    if isinstance(node, ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            raise YamlProblem(
                f"不允许的 YAML 标签 / YAML tag {node.tag!r} is not allowed (only plain "
                "strings, numbers, booleans and null)",
                *_pos(node),
            )
        try:
            return loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise YamlProblem(f"无法读取的值 / unreadable value: {exc}", *_pos(node)) from None
    if isinstance(node, SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise YamlProblem(
                f"不允许的 YAML 标签 / YAML tag {node.tag!r} is not allowed", *_pos(node)
            )
        return [
            _build(item, (*path, i), marks, budget, loader, depth + 1, scalars)
            for i, item in enumerate(node.value)
        ]
    if isinstance(node, MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise YamlProblem(
                f"不允许的 YAML 标签 / YAML tag {node.tag!r} is not allowed", *_pos(node)
            )
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(
                    "不支持合并键 / merge keys (<<) are not supported", *_pos(key_node)
                )
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem("键必须是文本 / keys must be plain text", *_pos(key_node))
            key = _build(key_node, path, {}, budget, loader, depth + 1)
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in result:
                raise YamlProblem(f"重复的键 / duplicate key {key!r}", *_pos(key_node))
            result[key] = _build(
                value_node, (*path, key), marks, budget, loader, depth + 1, scalars
            )
            marks[(*path, key)] = _pos(key_node)
        return result
    raise YamlProblem("无法读取的节点 / unreadable YAML node", *_pos(node))
