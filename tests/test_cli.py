"""The CLI shell: help imports no command module, errors map to Docker's exit codes."""

from __future__ import annotations

import subprocess
import sys

from pydock.cli import COMMANDS


def test_help_lists_every_command_without_importing_them() -> None:
    code = ("import sys; from pydock.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('pydock.cli.')))\n"
            "print('fastapi' in sys.modules, 'rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert f"  {name} " in out
    assert out.strip().splitlines()[-2:] == ["[]", "False False"]


def test_unknown_command_is_exit_125() -> None:
    proc = subprocess.run([sys.executable, "-m", "pydock", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 125
    assert "frobnicate" in proc.stderr


def test_every_command_target_resolves() -> None:
    import importlib

    missing = []
    for name, (target, _) in COMMANDS.items():
        module, attr = target.split(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name}: {exc}")
            continue
        assert obj.name == name or name in {"container", "image", "volume", "system", "alerts", "import"}
    assert not missing, missing
