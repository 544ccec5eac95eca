"""LazyOperator runs the real operator it names, deferral included.

The task runner's protocol is driven by hand here (execute -> TaskDeferred -> the trigger runs ->
``resume_execution``) because ``dag.test()`` only runs DAGs from the dags folder. The deferrable
operator is the standard provider's DateTimeSensorAsync with its real DateTimeTrigger: the Google
operators' triggers use BigQuery's async API, which the emulator does not serve.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from taxi_pipeline.lazy_operator import LazyOperator


def _task(**kwargs) -> LazyOperator:
    from airflow.sdk import DAG

    with DAG(dag_id="lazy_operator_test", schedule=None, start_date=datetime(2021, 1, 1), catchup=False):
        return LazyOperator(**kwargs)


def test_builds_the_named_operator_under_this_task_and_dag():
    from airflow.providers.standard.operators.bash import BashOperator

    task = _task(task_id="say", operator="airflow.providers.standard.operators.bash.BashOperator",
                 arguments={"bash_command": "echo hello"})
    assert task.operator_name == "BashOperator"
    inner = task.build()
    assert isinstance(inner, BashOperator)
    assert (inner.task_id, inner.dag_id, inner.bash_command) == ("say", "lazy_operator_test", "echo hello")
    assert list(task.dag.task_dict) == ["say"]  # the real operator is not registered as a second task


def test_a_deferred_operator_resumes_in_its_own_callback():
    from airflow.sdk.exceptions import TaskDeferred

    moment = datetime.now(timezone.utc) + timedelta(seconds=1)
    task = _task(task_id="wait", operator="airflow.providers.standard.sensors.date_time.DateTimeSensorAsync",
                 arguments={"target_time": moment.isoformat()})
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    assert deferred.value.method_name == "resume_inner"
    assert deferred.value.kwargs["inner_method"] == "execute_complete"

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event

    event = asyncio.run(asyncio.wait_for(first_event(), timeout=30))
    assert datetime.now(timezone.utc) >= moment  # the trigger really waited
    # What the task runner does when the trigger fires:
    task.resume_execution("resume_inner", {**deferred.value.kwargs, "event": event.payload}, {})


def test_a_bad_operator_path_names_the_task():
    with pytest.raises(ValueError, match="bad_path: operator must be a dotted path"):
        _task(task_id="bad_path", operator="BashOperator", arguments={})
