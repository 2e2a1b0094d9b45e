"""Diagnostics as JSON lines."""

from __future__ import annotations

import json
import logging

from ironlb.app.logs import configure_logging


def test_json_logs_are_one_object_per_line(capsys):
    configure_logging("info", "json")
    try:
        logging.getLogger("ironlb.controller").info("took %s", "leadership")
        line = capsys.readouterr().err.strip()
        entry = json.loads(line)
        assert entry["level"] == "info" and entry["logger"] == "ironlb.controller"
        assert entry["message"] == "took leadership" and entry["time"].endswith("+00:00")
    finally:
        configure_logging("warning", "text")
