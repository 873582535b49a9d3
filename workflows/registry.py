"""The workflows every worker registers."""

from workflows.archiver import HistoryArchiver
from workflows.enrollment import EnrollmentWorkflow
from workflows.operation import OperationWorkflow

WORKFLOWS = [EnrollmentWorkflow, HistoryArchiver, OperationWorkflow]
