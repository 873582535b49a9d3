"""Workflows: orchestration only. `WORKFLOWS` is what every worker registers."""

from workflows.archiver import HistoryArchiver
from workflows.enrollment import EnrollmentWorkflow

WORKFLOWS = [EnrollmentWorkflow, HistoryArchiver]

__all__ = ["WORKFLOWS", "EnrollmentWorkflow", "HistoryArchiver"]
