"""Builds a Switchyard plugin written in Python into a WebAssembly component.

    python -m switchyard_plugin_build app.py -o plugin.wasm [--wit DIR]

Runs componentize-py (pinned in requirements.txt) against the contract in DIR (default: the
contract the SDK carries in switchyard_plugin/wit when installed from its wheel, else this
repository's wit/), with the SDK and the app's directory on the module path. The contract's
`types` interface is renamed `plugin_types` so it does not clash with `wasi:http/types`; the
contract's version is read from its handler.wit.

A module of its own beside the `switchyard_plugin` package: that package imports the
contract's bindings, which exist only inside a component, so the build cannot live in it.
"""

import argparse
import os
import re
import subprocess
import sys
import time

SDK = os.path.dirname(os.path.abspath(__file__))
CARRIED_WIT = os.path.join(SDK, "switchyard_plugin", "wit")
DEFAULT_WIT = CARRIED_WIT if os.path.isdir(CARRIED_WIT) else os.path.normpath(os.path.join(SDK, "..", "..", "wit"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="switchyard_plugin_build", description=__doc__.splitlines()[0])
    parser.add_argument("app", help="the plugin's module, e.g. app.py (it defines class WitWorld)")
    parser.add_argument("-o", "--out", required=True, help="where to write the component")
    parser.add_argument("--wit", default=DEFAULT_WIT, help="the contract's WIT directory")
    args = parser.parse_args()
    app = os.path.abspath(args.app)
    if not os.path.isfile(app):
        parser.error(f"{args.app} is not a file")
    module = os.path.splitext(os.path.basename(app))[0]
    with open(os.path.join(args.wit, "handler.wit"), encoding="utf-8") as f:
        found = re.search(r"^package\s+switchyard:plugin@([^;\s]+);", f.read(), re.MULTILINE)
    if not found:
        parser.error(f"{args.wit}/handler.wit does not declare package switchyard:plugin@VERSION")
    version = found.group(1)
    tool = os.path.join(os.path.dirname(sys.executable), "componentize-py")
    if not os.path.exists(tool):
        parser.error(f"componentize-py is not installed beside {sys.executable}: pip install componentize-py==0.25.1")
    command = [
        tool,
        "-d", args.wit, "-w", "handler",
        "--import-interface-name", "wasi:http/types@0.2.12=types",
        "--import-interface-name", f"switchyard:plugin/types@{version}=plugin_types",
        "componentize", module,
        "-p", os.path.dirname(app), "-p", SDK,
        "-o", args.out,
    ]
    started = time.monotonic()
    done = subprocess.run(command)
    if done.returncode != 0:
        return done.returncode
    size = os.path.getsize(args.out) / 1e6
    print(f"built {args.out} ({size:.1f} MB) from {args.app} in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
