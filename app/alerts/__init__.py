"""Alert rules (pure), the debounce/hysteresis state machine, the engine service and notification sinks.

See docs/alerts.md.
"""

from app.alerts.evaluator import Alert, AlertError, AlertEvaluator, AlertEvent, AlertStatus
from app.alerts.rules import DEFAULT_RULES, AlertRule, Observation, Severity
from app.alerts.service import AlertEngine

__all__ = ["DEFAULT_RULES", "Alert", "AlertEngine", "AlertError", "AlertEvaluator", "AlertEvent", "AlertRule",
           "AlertStatus", "Observation", "Severity"]  # fmt: skip
