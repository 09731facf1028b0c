"""Vigil's Qt user interface. The only package that imports PySide6 (see the import-linter contracts)."""
