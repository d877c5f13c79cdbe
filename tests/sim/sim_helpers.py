"""The root conftest's helpers, loaded by path: ``from conftest import`` is ambiguous once
several test folders have a conftest.py."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_photondbg_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)

require_tool = _root.require_tool
child_processes = _root.child_processes
