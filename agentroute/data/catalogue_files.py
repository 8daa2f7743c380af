"""Reading the catalogue files: YAML in ``catalogues/`` (shipped with the package), checked on load.

A file that is not valid YAML, repeats a key, or does not fit its model in ``catalogue_schema``
raises ``CatalogueError`` naming the file and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, RootModel, ValidationError

from agentroute.data.catalogue_schema import Vocab
from agentroute.errors import AgentRouteError

M = TypeVar("M", bound=BaseModel)


class CatalogueError(AgentRouteError, ValueError):
    """A catalogue file that cannot be read or does not fit its schema; the message names the file and field."""


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not a silent overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def catalogue_file(name: str) -> Traversable:
    """The packaged file ``catalogues/<name>.yaml``."""
    return resources.files("agentroute.data").joinpath("catalogues", f"{name}.yaml")


def read(path: Traversable | Path, model: type[M], context: dict[str, Any] | None = None) -> M:
    """The YAML file at ``path`` validated as ``model`` (``context`` goes to the model's validators)."""
    try:
        loader = _Loader(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    loader.name = str(path)  # what YAML's error marks name
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems = "\n".join(f"  {_field(data, e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CatalogueError(f"{path}: {exc.error_count()} problem(s):\n{problems}") from None


def _field(data: Any, loc: tuple[int | str, ...]) -> str:
    """The dotted path of an error in the file (``city.pool``), without pydantic's union and tag labels."""
    path = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            continue
        path.append(str(part))
    return ".".join(path) or "(the whole file)"


def read_all(names: Iterable[str], model: type[RootModel[dict[str, Any]]], context: dict[str, Any]) -> dict[str, Any]:
    """The entries of several keyed files, in file order; a key that two files define is an error."""
    entries: dict[str, Any] = {}
    source: dict[str, str] = {}
    for name in names:
        path = catalogue_file(name)
        for key, entry in read(path, model, context).root.items():
            if key in source:
                raise CatalogueError(f"{path}: {key}: already defined in {source[key]}.yaml")
            source[key] = name
            entries[key] = entry
    return entries


@cache
def vocab() -> Vocab:
    """The word pools of ``catalogues/vocab.yaml``."""
    return read(catalogue_file("vocab"), Vocab)
