"""Workflows: orchestration only. `WORKFLOWS` is what every worker registers."""

from workflows.archiver import HistoryArchiver
from workflows.enrollment import EnrollmentWorkflow
from workflows.operation import OperationWorkflow

WORKFLOWS = [EnrollmentWorkflow, HistoryArchiver, OperationWorkflow]

__all__ = ["WORKFLOWS", "EnrollmentWorkflow", "HistoryArchiver", "OperationWorkflow"]
