"""Workflows: orchestration only. `workflows.registry.WORKFLOWS` is what every worker registers.

This file stays empty on purpose: the workflow sandbox re-imports a workflow's package for
every workflow instance it creates (each new enrollment, each replay after eviction), so
whatever this file imported would be executed and held again per instance.
"""
