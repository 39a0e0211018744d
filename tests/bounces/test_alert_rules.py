"""The bounce alerts, checked by promtool's rule unit tests against deploy/prometheus-rules.yml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus-rules.yml"
TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # 100 emails sent a minute; 10 of them bounce: 10% > 5%.
      - series: 'notifier_notifications_total{{channel="email", status="sent"}}'
        values: '0+100x120'
      - series: 'notifier_bounces_total{{kind="hard", council="sdc", result="applied"}}'
        values: '0+10x120'
      - series: 'notifier_bounces_total{{kind="other-failure", council="wdc", result="noted"}}'
        values: '0+1x120'
    alert_rule_test:
      - eval_time: 90m
        alertname: NotifierBounceRateHigh
        exp_alerts:
          - exp_labels: {{severity: ticket}}
            exp_annotations:
              summary: "More than 5% of emails hard-bounced in the last hour"
      - eval_time: 90m
        alertname: NotifierEmailRefusedByPolicy
        exp_alerts:
          - exp_labels: {{severity: ticket, council: wdc}}
            exp_annotations:
              summary: "wdc's email is being refused for policy reasons: check SPF, DKIM and DMARC"
  - interval: 1m
    input_series:
      # 2% bounce: no alert.
      - series: 'notifier_notifications_total{{channel="email", status="sent"}}'
        values: '0+100x120'
      - series: 'notifier_bounces_total{{kind="hard", council="sdc", result="applied"}}'
        values: '0+2x120'
    alert_rule_test:
      - eval_time: 90m
        alertname: NotifierBounceRateHigh
        exp_alerts: []
"""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_bounce_alerts_fire_past_their_thresholds_only(tmp_path: Path) -> None:
    """10% hard bounces raise NotifierBounceRateHigh, 2% do not; a stream of 5.7.x refusals
    raises NotifierEmailRefusedByPolicy for that council."""
    spec = tmp_path / "bounces.test.yml"
    spec.write_text(TESTS.format(rules=RULES), "utf-8")
    done = subprocess.run(
        ["promtool", "test", "rules", str(spec)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
