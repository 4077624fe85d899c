"""Write the TypeScript SDK's copy of every wire structure, from the Python definitions.

The TypeScript SDK (``js/sdk``) encodes and decodes the same structures as
``protocol/``: the same field names in the same declaration order (which canonical
MessagePack depends on), the same defaults, tags and bounds. Rather than keep two
hand-written copies in step, this script reads the msgspec structs through
``msgspec.inspect`` and writes ``js/sdk/src/wire/schema.gen.ts``: one runtime
description per structure, which the SDK's codec interprets, and one TypeScript
interface per structure.

``tests/test_ts_schema.py`` fails while the committed file differs from what this
script writes, so a protocol change reaches both SDKs in the same commit:

    .venv/bin/python scripts/gen_ts_schema.py
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi

MODULES = (
    "protocol.ops",
    "protocol.messages",
    "protocol.api",
    "protocol.personal",
    "protocol.envelope",
    "protocol.epochs",
)
OUT = Path(__file__).resolve().parent.parent / "js" / "sdk" / "src" / "wire" / "schema.gen.ts"


def structs() -> dict[str, type[msgspec.Struct]]:
    found: dict[str, type[msgspec.Struct]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, msgspec.Struct) and obj.__module__ == name:
                key = attr.lstrip("_")
                if key in found:
                    raise SystemExit(f"two structures are called {key}")
                found[key] = obj
    return found


def describe(t: mi.Type, names: dict[type, str]) -> dict[str, Any]:
    """The runtime description of one field type (see js/sdk/src/wire/codec.ts)."""

    def bounds(**pairs: Any) -> dict[str, Any]:
        return {k: v for k, v in pairs.items() if v is not None}

    if isinstance(t, mi.StrType):
        return {"k": "str", **bounds(min=t.min_length, max=t.max_length, pattern=t.pattern)}
    if isinstance(t, mi.IntType):
        for bound in (t.gt, t.lt, t.multiple_of):
            if bound is not None:
                raise SystemExit(f"an int bound the codec does not know: {t}")
        return {"k": "int", **bounds(ge=t.ge, le=t.le)}
    if isinstance(t, mi.BytesType):
        return {"k": "bytes", **bounds(min=t.min_length, max=t.max_length)}
    if isinstance(t, mi.BoolType):
        return {"k": "bool"}
    if isinstance(t, mi.NoneType):
        return {"k": "none"}
    if isinstance(t, mi.AnyType):
        return {"k": "any"}
    if isinstance(t, mi.RawType):
        return {"k": "raw"}
    if isinstance(t, mi.LiteralType):
        return {"k": "lit", "values": list(t.values)}
    if isinstance(t, mi.ListType):
        return {
            "k": "list",
            "item": describe(t.item_type, names),
            **bounds(min=t.min_length, max=t.max_length),
        }
    if isinstance(t, mi.DictType):
        return {
            "k": "dict",
            "key": describe(t.key_type, names),
            "value": describe(t.value_type, names),
            **bounds(min=t.min_length, max=t.max_length),
        }
    if isinstance(t, mi.StructType):
        return {"k": "ref", "name": names[t.cls]}
    if isinstance(t, mi.UnionType):
        return {"k": "union", "types": [describe(x, names) for x in t.types]}
    raise SystemExit(f"a field type the codec does not know: {t!r}")


def ts_type(t: dict[str, Any]) -> str:
    k = t["k"]
    if k == "str":
        return "string"
    if k == "int":
        return "number"
    if k == "bytes":
        return "Uint8Array"
    if k == "bool":
        return "boolean"
    if k == "none":
        return "null"
    if k in ("any", "raw"):
        return "unknown"
    if k == "lit":
        return " | ".join(json.dumps(v) for v in t["values"])
    if k == "list":
        inner = ts_type(t["item"])
        return f"Array<{inner}>"
    if k == "dict":
        return f"Record<{ts_type(t['key'])}, {ts_type(t['value'])}>"
    if k == "ref":
        return t["name"]
    if k == "union":
        return " | ".join(ts_type(x) for x in t["types"])
    raise AssertionError(k)


def render() -> str:
    found = structs()
    names = {cls: key for key, cls in found.items()}
    defs: dict[str, Any] = {}
    interfaces: list[str] = []
    for key, cls in found.items():
        info = mi.type_info(cls)
        assert isinstance(info, mi.StructType)
        fields = []
        lines = [f"/** `{cls.__module__}.{cls.__name__}` */", f"export interface {key} {{"]
        if info.tag is not None:
            lines.append(f"  readonly {info.tag_field}: {json.dumps(info.tag)};")
        for field in info.fields:
            if field.name != field.encode_name:
                raise SystemExit(f"{key}.{field.name} is renamed, which the codec does not know")
            entry: dict[str, Any] = {"name": field.name, "type": describe(field.type, names)}
            if field.default is not msgspec.NODEFAULT:
                entry["default"] = msgspec.to_builtins(field.default)
            elif field.default_factory is not msgspec.NODEFAULT:
                entry["default"] = msgspec.to_builtins(field.default_factory())
            fields.append(entry)
            optional = "?" if "default" in entry else ""
            lines.append(f"  readonly {field.name}{optional}: {ts_type(entry['type'])};")
        lines.append("}")
        interfaces.append("\n".join(lines))
        defs[key] = {
            "name": key,
            "tagField": info.tag_field,
            "tag": info.tag,
            "forbidUnknown": info.forbid_unknown_fields,
            "arrayLike": info.array_like,
            "omitDefaults": cls.__struct_config__.omit_defaults,
            "fields": fields,
        }
    body = (
        "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in defs.items()) + "\n}"
    )
    return (
        "// Generated by scripts/gen_ts_schema.py from the msgspec structures of protocol/.\n"
        "// Do not edit: change the Python structure and run the script;\n"
        "// tests/test_ts_schema.py fails while this file is out of date.\n\n"
        'import type { StructDef } from "./types.js";\n\n'
        + "\n\n".join(interfaces)
        + "\n\n/** The runtime description of every structure, by name. */\n"
        + f"export const SCHEMA: Readonly<Record<string, StructDef>> = {body};\n"
    )


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        return 0 if OUT.exists() and OUT.read_text() == text else 1
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
