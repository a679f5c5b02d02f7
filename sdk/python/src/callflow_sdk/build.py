"""``callflow-py build``: a plugin module into the component the host runs.

    callflow-py build app -o plugin.wasm

runs ``componentize-py`` (the ``build`` extra installs the pinned version) with the
SDK's own world, over a staging directory that holds only the plugin's directory and the
SDK: nothing else from the environment is bundled. The staged SDK carries its WIT and the
``componentize-py.toml`` that points componentize-py at it. componentize-py runs the
module's top level while it builds (and snapshots the memory), so a plugin that fails to
import, or never calls ``export_plugin``, fails here rather than on its first call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import CONTRACT

WORLD = "plugin"
# The host's default `max_plugin_kib` (32 MiB): above it an upload is refused.
HOST_DEFAULT_MAX_BYTES = 32 << 20

_ENTRY = """\
# Written by callflow-py build: the component's entry module.
import importlib

importlib.import_module({module!r})

import callflow_sdk

callflow_sdk.exported_plugin()  # fails the build when the module exported no plugin

from callflow_sdk._guest import Api, Handler  # noqa: E402,F401 - the WIT exports
"""


def sdk_dir() -> Path:
    """The installed ``callflow_sdk`` package."""
    return Path(__file__).resolve().parent


def wit_dir() -> Path:
    """The WIT the SDK builds against."""
    return sdk_dir() / "wit"


def componentize_py() -> str:
    """The ``componentize-py`` executable: beside this Python's, else on ``PATH``."""
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("componentize-py")
    if found is None:
        raise SystemExit(
            "componentize-py is not installed: pip install 'callflow-sdk[build]' "
            "(it pins componentize-py 0.25.1)"
        )
    return found


def build(module: str, app_dir: Path, output: Path, quiet: bool = False) -> int:
    """Builds ``module`` (found in ``app_dir``) into ``output``; returns its size."""
    app_dir = app_dir.resolve()
    if not (app_dir / f"{module.split('.')[0]}.py").exists() and not (
        app_dir / module.split(".")[0]
    ).is_dir():
        raise SystemExit(f"no module {module!r} in {app_dir}")
    with tempfile.TemporaryDirectory(prefix="callflow-py-") as tmp:
        stage = Path(tmp)
        shutil.copytree(
            sdk_dir(),
            stage / "callflow_sdk",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "testing"),
        )
        (stage / "callflow_entry.py").write_text(_ENTRY.format(module=module))
        # The staged SDK's componentize-py.toml names its WIT: no `-d`.
        cmd = [
            componentize_py(),
            "-w",
            WORLD,
            "componentize",
            "callflow_entry",
            "-p",
            str(stage),
            "-p",
            str(app_dir),
            "-o",
            str(output),
        ]
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        started = time.monotonic()
        done = subprocess.run(cmd, env=env, capture_output=quiet)
        if done.returncode != 0:
            if quiet:
                sys.stderr.write(done.stdout.decode(errors="replace"))
                sys.stderr.write(done.stderr.decode(errors="replace"))
            raise SystemExit(f"componentize-py failed ({done.returncode})")
        took = time.monotonic() - started
    size = output.stat().st_size
    if not quiet:
        print(
            f"built {output} ({size / (1 << 20):.1f} MiB, {CONTRACT}) in {took:.1f} s",
            file=sys.stderr,
        )
        if size > HOST_DEFAULT_MAX_BYTES:
            print(
                f"warning: over the host's default plugin size ({HOST_DEFAULT_MAX_BYTES >> 20} MiB);"
                " the operator must raise `max_plugin_kib` in host.toml",
                file=sys.stderr,
            )
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="callflow-py", description="Build Python callflow-host plugins."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a plugin module into a component")
    b.add_argument("module", help="the module that calls export_plugin (for example `app`)")
    b.add_argument("-o", "--output", default="plugin.wasm", type=Path)
    b.add_argument(
        "-C", "--dir", default=Path("."), type=Path, help="the plugin's directory (default: .)"
    )
    b.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("wit", help="print the path of the WIT the SDK builds against")
    args = parser.parse_args(argv)
    if args.command == "wit":
        print(wit_dir())
        return 0
    build(args.module, args.dir, args.output, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
