"""The alert rules (monitoring/prometheus/rules.yml) under Prometheus's own rule tester:
``promtool check rules`` and ``promtool test rules`` (rules_test.yml: each rule fires when it
should, with the labels and text an alert shows, and not before)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[1] / "monitoring" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="needs promtool: apt-get install prometheus")


@pytest.mark.parametrize("command", [["check", "rules", "rules.yml"], ["test", "rules", "rules_test.yml"]],
                         ids=["check", "test"])
def test_promtool_passes_the_rules(command: list[str]) -> None:
    done = subprocess.run([PROMTOOL, *command], cwd=RULES, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_has_a_unit_test() -> None:
    import yaml

    rules = {r["alert"] for g in yaml.safe_load((RULES / "rules.yml").read_text())["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "rules_test.yml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case["alert_rule_test"] if t.get("exp_alerts")}
    assert rules == tested
