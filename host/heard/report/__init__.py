"""Reports for store managers: what the counters' conversations looked like.

``build_report(db, filters)`` reads the database into a ``Report`` (``model.py``) that the
terminal (``terminal.py``), JSON and HTML renderers all present. Definitions of every number:
docs/REPORTS.md.
"""

from __future__ import annotations

from heard.report.build import build_report
from heard.report.model import Filters, Report

__all__ = ["Filters", "Report", "build_report"]
