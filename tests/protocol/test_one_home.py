"""Protocol rules defined once: PyNaCl is imported by protocol/crypto.py alone, and the
Crockford base32 alphabet is spelled out by protocol/base32.py alone."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("protocol", "server", "client_sdk", "hearth_chat", "hearth_cli")
CRYPTO = ROOT / "protocol" / "crypto.py"
BASE32 = ROOT / "protocol" / "base32.py"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _sources() -> list[pathlib.Path]:
    paths = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    assert CRYPTO in paths
    assert BASE32 in paths
    return paths


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):  # lazy imports and TYPE_CHECKING blocks included
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_only_protocol_crypto_imports_pynacl() -> None:
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        found = [n for n in _imports(tree) if n.split(".")[0] == "nacl"]
        if found and path != CRYPTO:
            offenders.append((str(path.relative_to(ROOT)), found))
    assert offenders == []


def test_the_crockford_alphabet_is_defined_once() -> None:
    holders = [
        str(path.relative_to(ROOT))
        for path in _sources()
        if any(
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ALPHABET in node.value
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        )
    ]
    assert holders == ["protocol/base32.py"]
