"""Workflows: orchestration only. `WORKFLOWS` is what every worker registers."""

from workflows.enrollment import EnrollmentWorkflow

WORKFLOWS = [EnrollmentWorkflow]

__all__ = ["WORKFLOWS", "EnrollmentWorkflow"]
