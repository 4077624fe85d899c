"""The distribution as each user installs it: fresh venvs, real pip, and the container.

A front-end developer's ``pip install hearth-peer-support`` (the base, no extra)
gets ``protocol`` and ``client_sdk`` and nothing of the relay: no Litestar, and
``hearth serve`` names the extra it needs. An editable install is seen by mypy from
outside the checkout (``py.typed`` shipped, the packages found). ``deploy/Dockerfile``
builds and serves where a container tool exists.

These need the package registry (pip installs the base dependencies and the build
backend into each venv); where pip cannot reach it they skip and say so. Each venv
takes a few seconds to half a minute; they run in ``make test`` (marker
``packaging`` selects or deselects them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

import protocol
from hearth_cli import DISTRIBUTION
from tests.client_sdk.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "server", "client_sdk", "hearth_chat", "hearth_cli")
RELAY_ONLY = ("litestar", "uvicorn", "asyncpg", "redis", "uvloop", "textual")

pytestmark = pytest.mark.packaging


def _run(*args: str | Path, timeout: float = 300, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        # The test process's PYTHONPATH points at the checkout: a venv must see only
        # what was installed into it.
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _source_copy(dest: Path) -> Path:
    """The files a source distribution holds, copied: pip must not build in the checkout."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return dest


def _venv(path: Path) -> Path:
    _run(sys.executable, "-m", "venv", path)
    python = path / "bin" / "python"
    probe = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "-d",
            path / "probe",
            "setuptools>=77",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"pip cannot reach the package registry: {probe.stderr.strip()[-300:]}")
    return python


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding ``pip install .``: the base install, no extras."""
    tmp = tmp_path_factory.mktemp("base")
    python = _venv(tmp / "venv")
    _run(python, "-m", "pip", "install", "--quiet", _source_copy(tmp / "src"))
    return python


def test_the_base_install_is_the_sdk_without_the_relay(base: Path) -> None:
    out = _run(
        base,
        "-c",
        "import importlib.util, client_sdk, protocol\n"
        "from client_sdk import HearthClient, Identity\n"
        f"print([m for m in {RELAY_ONLY!r} if importlib.util.find_spec(m)])\n"
        "print(client_sdk.__version__)",
    )
    missing, version = out.split()
    assert missing == "[]"  # none of the relay's or the app's dependencies came along
    assert version == protocol.__version__


def test_the_relay_is_not_importable_without_its_extra(base: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [base, "-c", "import server"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode != 0
    assert "No module named 'litestar'" in result.stderr
    hearth = base.parent / "hearth"
    serve = subprocess.run([hearth, "serve"], capture_output=True, text=True, check=False)
    assert serve.returncode == 2
    assert "Traceback" not in serve.stderr
    assert f"pip install '{DISTRIBUTION}[relay]'" in serve.stderr
    chat = subprocess.run([hearth, "chat"], capture_output=True, text=True, check=False)
    assert chat.returncode == 2
    assert f"pip install '{DISTRIBUTION}[chat]'" in chat.stderr
    assert _run(hearth, "--version").strip() == protocol.__version__


def test_the_metadata_names_the_distribution_and_its_extras(base: Path) -> None:
    out = _run(
        base,
        "-c",
        "from importlib.metadata import metadata, version\n"
        f"m = metadata({DISTRIBUTION!r})\n"
        f"print(version({DISTRIBUTION!r}))\n"
        "print(*sorted(m.get_all('Provides-Extra')))\n"
        "print(*sorted(r.split(';')[0].split('>')[0].split('<')[0].strip()"
        " for r in m.get_all('Requires-Dist') if 'extra ==' not in r))",
    )
    version, extras, requires = out.splitlines()
    assert version == protocol.__version__
    assert extras.split() == ["chat", "dev", "relay"]
    assert requires.split() == ["aiosqlite", "httpx", "msgspec", "pynacl", "websockets"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION


def test_every_package_ships_py_typed(base: Path) -> None:
    site = Path(
        _run(base, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    for package in PACKAGES:
        assert (site / package / "py.typed").is_file(), package
    assert (site / "hearth_chat" / "chat.tcss").is_file()


def test_the_relay_extra_alone_serves(tmp_path: Path) -> None:
    """``pip install '.[relay]'`` (what ``make serve`` and the Dockerfile install) runs a relay.

    Nothing the relay imports may hide in the dev or chat extras; ``/readyz`` answers,
    and ``/`` serves the web app from the installed package.
    """
    python = _venv(tmp_path / "venv")
    source = _source_copy(tmp_path / "src")
    _run(python, "-m", "pip", "install", "--quiet", f"{source}[relay]", cwd=tmp_path)
    no_app = "import importlib.util; print(importlib.util.find_spec('textual'))"
    assert _run(python, "-c", no_app).strip() == "None"  # the chat app's toolkit stays out
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "HEARTH_"))}
    relay = subprocess.Popen(
        [tmp_path / "venv" / "bin" / "hearth", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "HEARTH_DATA_DIR": str(tmp_path / "data")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", relay)
        # The built web app travels in the package: / serves it with no Node here.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.read() == (ROOT / "server" / "web" / "index.html").read_bytes()
    finally:
        relay.terminate()
        out, err = relay.communicate(timeout=30)
    assert relay.returncode == 0, err[-3000:]
    assert "Hearth relay stopped" in out


def _wait_ready(url: str, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
                return
        except OSError:
            if process is not None and process.poll() is not None:
                pytest.fail(f"the relay exited: {process.communicate()[1][-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{url} never answered")
            time.sleep(0.3)


def test_mypy_sees_an_editable_install_from_outside_the_checkout(tmp_path: Path) -> None:
    """The SDK installed editable (as the Makefile does) type-checks in another project.

    setuptools' default editable mode for a flat layout is an import hook that mypy
    cannot follow from another directory (inside the checkout, ``make check`` finds
    the packages in the working directory); CONTRIBUTING.md and docs/sdk.md say to
    install with ``editable_mode=strict`` (a tree of links on a .pth path) instead.
    """
    python = _venv(tmp_path / "venv")
    source = _source_copy(tmp_path / "src")
    _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--config-settings",
        "editable_mode=strict",
        "-e",
        source,
        cwd=tmp_path,
    )
    app = tmp_path / "app"
    app.mkdir()
    (app / "good.py").write_text(
        "import client_sdk\nimport protocol\nfrom client_sdk import HearthClient, Identity\n\n"
        "VERSION: str = client_sdk.__version__\n\n\n"
        "def phrase(identity: Identity) -> str:\n    return identity.recovery_phrase\n\n\n"
        "async def close(client: HearthClient) -> None:\n    await client.close()\n"
    )
    (app / "bad.py").write_text("import protocol\n\nVERSION: int = protocol.__version__\n")
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    mypy += ["--python-executable", str(python), "--config-file", os.devnull]
    good = subprocess.run([*mypy, "good.py"], capture_output=True, text=True, cwd=app, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    # The types are real, not Any: a wrong one is caught.
    bad = subprocess.run([*mypy, "bad.py"], capture_output=True, text=True, cwd=app, check=False)
    assert bad.returncode == 1
    assert 'incompatible types in assignment (expression has type "str"' in bad.stdout.lower()


def _container_tool() -> tuple[str | None, str]:
    """A container tool whose engine answers, or None and why not."""
    tools = [tool for tool in ("docker", "podman") if shutil.which(tool)]
    if not tools:
        return None, "neither docker nor podman is on PATH: the image is not built"
    for tool in tools:
        info = subprocess.run([tool, "info"], capture_output=True, check=False, timeout=60)
        if info.returncode == 0:
            return tool, ""
    return None, f"{' and '.join(tools)} on PATH, but no container engine answers: not built"


def test_the_dockerfile_builds_and_serves() -> None:
    """Build deploy/Dockerfile, check its ``hearth``, start it and wait for ``/readyz``."""
    tool, why_not = _container_tool()
    if tool is None:
        pytest.skip(why_not)
    tag = f"hearth-test-{os.getpid()}"
    _run(tool, "build", "-f", ROOT / "deploy" / "Dockerfile", "-t", tag, ROOT, timeout=900)
    try:
        assert (
            _run(
                tool, "run", "--rm", "--entrypoint", "/opt/hearth/bin/hearth", tag, "--version"
            ).strip()
            == protocol.__version__
        )
        container = _run(tool, "run", "-d", "-p", "127.0.0.1::8080", tag).strip()
        try:
            port = _run(tool, "port", container, "8080").split(":")[-1].split()[0]
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                        assert r.status == 200
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        logs = subprocess.run(
                            [tool, "logs", container], capture_output=True, text=True, check=False
                        )
                        pytest.fail(f"the container never got ready:\n{logs.stderr[-3000:]}")
                    time.sleep(0.5)
        finally:
            subprocess.run([tool, "rm", "-f", container], capture_output=True, check=False)
    finally:
        subprocess.run([tool, "rmi", "-f", tag], capture_output=True, check=False)
