"""Project rules that are code: the core imports no Qt, imports follow the layers without circles, no
service is found by a string name, and the tree is ruff-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_import_contracts_hold():
    r = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    out = " ".join(r.stdout.split())  # the report wraps long contract names
    assert "Core (app, probes) imports no Qt KEPT" in out
    assert "Layers: widgets > composition > features > store/motion > probes > pipeline > kernel KEPT" in out
    assert "No import circles between the sibling modules of any package KEPT" in out
    assert "Contracts: 4 kept, 0 broken." in out


def test_services_are_typed_fields_never_found_by_name():
    """Every service is a field of Runtime built in app/compose.py: no name lookup may come back."""
    offenders = []
    sources = [ROOT / "main.py", *(p for d in ("app", "probes", "widgets", "bench") for p in (ROOT / d).rglob("*.py"))]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for needle in ("find_service(", "add_service(", "runtime.services", 'services=[("'):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not offenders, offenders


def test_ruff_lint_clean():
    r = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:]
