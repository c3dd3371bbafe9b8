"""Load the explicit Arrow schema of each output table from ``schemas/<table>.json``.

The JSON type language is deliberately small and readable:

* scalars: ``string``, ``int32``, ``int64``, ``float32``, ``float64``, ``bool``,
  ``timestamp[us, UTC]``;
* ``{"list": <type>}`` and ``{"struct": [<field>, …]}``, where a field is
  ``{"name", "type", "nullable", "description"}``.

Descriptions travel into the Arrow field metadata, so they are visible in every Parquet file.
Partition columns (``date``, ``source``) are not stored in the files: they come from the folder names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pyarrow as pa

TABLES: tuple[str, ...] = ("articles", "paragraphs", "entities", "rejects")

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
}


class SchemaError(ValueError):
    """A schema file is malformed."""


def _field(spec: dict[str, Any]) -> pa.Field:
    try:
        name = spec["name"]
        dtype = _type(spec["type"])
    except KeyError as err:
        raise SchemaError(f"field {spec!r} lacks {err}") from err
    metadata = {"description": spec["description"]} if spec.get("description") else None
    return pa.field(name, dtype, nullable=bool(spec.get("nullable", True)), metadata=metadata)


def _type(spec: Any) -> pa.DataType:
    if isinstance(spec, str):
        if spec not in _SCALARS:
            raise SchemaError(f"unknown type {spec!r}; known: {sorted(_SCALARS)}")
        return _SCALARS[spec]
    if isinstance(spec, dict) and set(spec) == {"list"}:
        return pa.list_(_type(spec["list"]))
    if isinstance(spec, dict) and set(spec) == {"struct"}:
        return pa.struct([_field(f) for f in spec["struct"]])
    raise SchemaError(f"unknown type {spec!r}")


@dataclass(frozen=True, slots=True)
class TableSchema:
    name: str
    description: str
    arrow: pa.Schema


def parse_schema(document: dict[str, Any]) -> TableSchema:
    fields = [_field(f) for f in document["fields"]]
    return TableSchema(
        name=document["table"],
        description=document.get("description", ""),
        arrow=pa.schema(fields, metadata={"feedflow.table": document["table"]}),
    )


def load_schema(table: str) -> TableSchema:
    """The schema of one output table, from the shipped ``schemas/<table>.json``."""
    if table not in TABLES:
        raise SchemaError(f"no such table {table!r}; tables: {', '.join(TABLES)}")
    text = resources.files("feedflow.schemas").joinpath(f"{table}.json").read_text(encoding="utf-8")
    return parse_schema(json.loads(text))


def load_schemas() -> dict[str, TableSchema]:
    return {table: load_schema(table) for table in TABLES}
