"""A cosmos operator for the dbt command a manual run picks (the ``dbt_command`` param).

cosmos has one operator per dbt command; the Kestra flow's "select dbt command" input needs the
command chosen at run time, so this one takes it as a templated field and runs it like cosmos's
own local operators (the same profile from the connection, the same project copy and logs).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from cosmos.operators.local import DbtLocalBaseOperator

# Commands that take --full-refresh.
_REFRESHABLE = ("build", "run", "seed")


class DbtCommandLocalOperator(DbtLocalBaseOperator):
    """Runs ``dbt <command>`` (e.g. ``source freshness``) for the whole project."""

    template_fields: Sequence[str] = (*DbtLocalBaseOperator.template_fields, "command", "full_refresh")

    def __init__(self, *args: Any, command: str, full_refresh: bool | str = False, **kwargs: Any) -> None:
        self.command = command
        self.full_refresh = full_refresh
        super().__init__(*args, **kwargs)

    @property
    def base_cmd(self) -> list[str]:
        return shlex.split(self.command)

    def add_cmd_flags(self) -> list[str]:
        refresh = str(self.full_refresh).lower() == "true"
        return ["--full-refresh"] if refresh and self.base_cmd[:1] and self.base_cmd[0] in _REFRESHABLE else []
