"""The shim's process ends with os._exit (shim.exit_with_main) instead of the interpreter's teardown:
the same exit status, messages and tracebacks as `sys.exit(main())` gave, with what was printed
flushed to the shim's log."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = {
    "returns 3": ("return 3", 3, ""),
    "returns 0": ("print('to the log'); return 0", 0, ""),
    "returns None": ("return None", 0, ""),
    "SystemExit with a message": ("raise SystemExit('pydock-shim: bad option')", 1, "pydock-shim: bad option"),
    "SystemExit with a code": ("raise SystemExit(125)", 125, ""),
    "an unexpected error": ("raise RuntimeError('boom')", 1, "RuntimeError: boom"),
}


def _run(body: str, how: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys\nfrom pydock.runtime import shim\n"
            "def fake_main():\n    " + body + "\n"
            "shim.main = fake_main\n" + ("shim.exit_with_main()\n" if how == "fast" else "sys.exit(shim.main())\n"))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_exit_with_main_ends_as_sys_exit_would(case: str) -> None:
    body, status, stderr = CASES[case]
    fast, full = _run(body, "fast"), _run(body, "full")
    assert fast.returncode == full.returncode == status
    assert fast.stdout == full.stdout
    assert stderr in fast.stderr
    assert fast.stderr.splitlines()[-1:] == full.stderr.splitlines()[-1:]
