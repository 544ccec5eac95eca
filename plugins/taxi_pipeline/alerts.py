"""Alerts: a run whose task failed after its retries is told through an Airflow notifier.

``NY_TAXI_ALERT`` picks the notifier -- ``smtp`` (SmtpNotifier, to ``NY_TAXI_ALERT_TO``), ``slack``
(SlackWebhookNotifier) or ``apprise`` (AppriseNotifier) -- and ``NY_TAXI_ALERT_CONN_ID`` its
connection; ``none`` (the default) sends nothing. With ``NY_TAXI_ALERT_ON_SUCCESS=true`` every
loaded month also sends its one-line summary ("green 2020-03: 223,406 rows inserted, 0 skipped,
quality ok").

Where they run: these are *task-level* callbacks (every task's ``on_failure_callback``, and
check_quality's ``on_success_callback``), so they run in the worker, right after the task's last
try, with its error and its log URL at hand. A DAG-level ``on_failure_callback`` would run in the
dag-processor, which gets no exception and would have to reach the mail server itself. Retries do
not alert (``on_failure_callback`` fires only once the task has failed for good); tasks that only
became ``upstream_failed`` send nothing, so one failure sends one message.

An alert that cannot be sent (the SMTP server down, a missing connection) is logged as an error and
changes nothing: the run's state stays what its tasks decided.

Whatever ``NY_TAXI_ALERT`` says, a failure also becomes the run's note ("green 2019-02:
load_staging failed: <the error's first line>", run_note.py): Airflow keeps no task's exception in
its database, and the "Taxi loads" page and ``/metrics`` (monitor/) show a failed month's cause from it.
"""

from __future__ import annotations

import logging
from typing import Any

from taxi_pipeline.months import ParamError, Window, resolve_month
from taxi_pipeline.run_note import set_run_note
from taxi_pipeline.settings import Settings
from taxi_pipeline.specs import TaxiSpec

log = logging.getLogger(__name__)

DEFAULT_CONN_IDS = {"smtp": "smtp_default", "slack": "slack_default", "apprise": "apprise_default"}


def notifier(settings: Settings, subject: str, body: str):
    """The configured notifier, carrying this message (None with NY_TAXI_ALERT=none)."""
    conn_id = settings.alert_conn_id or DEFAULT_CONN_IDS.get(settings.alert)
    if settings.alert == "smtp":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        html = "<pre>" + body.replace("&", "&amp;").replace("<", "&lt;") + "</pre>"
        return SmtpNotifier(to=list(settings.alert_to), from_email=settings.alert_from, subject=subject,
                            html_content=html, smtp_conn_id=conn_id)
    if settings.alert == "slack":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=f"*{subject}*\n{body}")
    if settings.alert == "apprise":
        from airflow.providers.apprise.notifications.apprise import AppriseNotifier

        return AppriseNotifier(title=subject, body=body, apprise_conn_id=conn_id)
    return None


class MonthAlerts:
    """The callbacks of one DAG: ``on_failure`` for every task, ``on_success`` for its last one."""

    def __init__(self, spec: TaxiSpec, window: Window, settings: Settings) -> None:
        self.spec, self.window, self.settings = spec, window, settings

    def month_label(self, context: Any) -> str:
        """The run's month, decided as wait_for_file decides it (a callback gets no task's arguments)."""
        try:
            dag_run = context["dag_run"]
            month, _ = resolve_month(dag_run.conf or {}, context.get("logical_date"), self.window,
                                     run_type=str(dag_run.run_type))
        except ParamError as exc:
            return f"{self.spec.taxi} (month not resolved: {exc})"
        return f"{self.spec.taxi} {month}"

    def on_failure(self, context: Any) -> None:
        ti, dag_id = context["ti"], context["dag"].dag_id
        error = str(context.get("exception") or "no error recorded").strip().splitlines() or ["(empty error)"]
        label = self.month_label(context)
        set_run_note(dag_id, context["dag_run"].run_id, f"{label}: {ti.task_id} failed: {error[0]}"[:1000])
        if self.settings.alert == "none":
            return
        subject = f"[ny_taxi] {dag_id} {label}: {ti.task_id} failed"
        body = "\n".join([
            f"DAG: {dag_id}", f"Month: {label}", f"Run: {context['dag_run'].run_id}",
            f"Failed task: {ti.task_id} (try {ti.try_number})", f"Error: {error[0]}", f"Log: {ti.log_url}",
        ])
        self._send(subject, body, context)

    def on_success(self, context: Any) -> None:
        if self.settings.alert == "none" or not self.settings.alert_on_success:
            return
        ti = context["ti"]
        summary = (ti.xcom_pull() or {}).get("summary") or f"{self.month_label(context)}: loaded"  # its own result
        self._send(f"[ny_taxi] {context['dag'].dag_id} {summary}", f"{summary}\nLog: {ti.log_url}", context)

    def _send(self, subject: str, body: str, context: Any) -> None:
        try:
            message = notifier(self.settings, subject, body)
            if message is None:
                return
            message.notify(context)
        except Exception as exc:  # an alert must never change the run's outcome
            log.error("could not send the %s alert %r: %s", self.settings.alert, subject, exc)
            return
        log.info("sent the %s alert: %s", self.settings.alert, subject)
