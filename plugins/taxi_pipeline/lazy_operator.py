"""A provider operator that is imported when its task runs, not when the DAG file is parsed.

Importing the Google provider's operators costs seconds (google-cloud-bigquery, its storage client,
pandas), and the dag-processor pays that on every parse of every GCP DAG file. ``LazyOperator``
holds the operator's dotted path and arguments; the worker imports the class, builds the operator
with the rendered arguments and runs it. Deferral still works: the real operator's ``TaskDeferred``
is re-raised pointing at ``resume_inner``, which rebuilds the operator and calls the method it
asked for.

What this costs: the task's operator links (e.g. "BigQuery Job") are not shown in the UI, and the
arguments are rendered as one templated field, ``arguments``.
"""

from __future__ import annotations

import importlib
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import TaskDeferred


class LazyOperator(BaseOperator):
    """Runs ``operator`` (a dotted class path) built from ``arguments`` when the task executes.

    ``arguments`` are the real operator's own keyword arguments (templates allowed, rendered with
    the task's context); everything else (``task_id``, ``outlets``, ``retries``...) is this task's.
    """

    template_fields = ("arguments",)
    template_fields_renderers = {"arguments": "json"}
    ui_color = "#e8f0fe"

    def __init__(self, *, operator: str, arguments: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        module, _, name = operator.rpartition(".")
        if not module:
            raise ValueError(f"{self.task_id}: operator must be a dotted path module.Class, got {operator!r}")
        self.operator = operator
        self.arguments = arguments
        self.custom_operator_name = name  # the UI shows the real operator's name
        self._inner: BaseOperator | None = None

    def build(self) -> BaseOperator:
        """The real operator, with this task's id and DAG (for job labels), from the rendered arguments."""
        module, _, name = self.operator.rpartition(".")
        operator_class = getattr(importlib.import_module(module), name)
        inner = operator_class(task_id=self.task_id, **self.arguments)
        # Its DAG without registering a second task with this id (BaseOperator's _dag converter
        # would): BigQuery labels its jobs with the dag_id.
        object.__setattr__(inner, "_dag", self.dag)
        self._inner = inner
        return inner

    def execute(self, context: Any) -> Any:
        return self._run(context, "execute", {})

    def resume_inner(self, context: Any, inner_method: str, inner_kwargs: dict[str, Any] | None = None,
                     event: Any = None) -> Any:
        """Where a deferred task resumes: the real operator's own callback, on a rebuilt operator."""
        kwargs = dict(inner_kwargs or {})
        if event is not None:
            kwargs["event"] = event
        return self._run(context, inner_method, kwargs)

    def _run(self, context: Any, method: str, kwargs: dict[str, Any]) -> Any:
        inner = self.build()
        try:
            return getattr(inner, method)(context, **kwargs)
        except TaskDeferred as deferred:
            raise TaskDeferred(
                trigger=deferred.trigger,
                method_name="resume_inner",
                kwargs={"inner_method": deferred.method_name, "inner_kwargs": deferred.kwargs},
                timeout=deferred.timeout,
            ) from None

    def on_kill(self) -> None:
        if self._inner is not None:  # e.g. BigQueryInsertJobOperator cancels its job
            self._inner.on_kill()
