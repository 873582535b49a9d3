"""HistoryArchiver: a long-running workflow that keeps Postgres's copy of closed enrollment
histories up to date, every minute, so auditors can read them after Temporal forgets."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.payloads import ArchiveInput, ArchiverInput
    from workflows import calls

ARCHIVER_ID = "cadence-history-archiver"
# Visibility is eventually consistent: look back a little behind the newest close seen.
OVERLAP = timedelta(minutes=5)


@workflow.defn(name="HistoryArchiver")
class HistoryArchiver:
    """Every interval, archive runs closed since the last cursor; continue-as-new regularly."""

    @workflow.run
    async def run(self, input: ArchiverInput) -> None:
        """Loop forever (one run per `rounds_per_run` rounds)."""
        since = input.since
        for _ in range(input.rounds_per_run):
            result = await workflow.execute_activity(calls.archive_histories, ArchiveInput(since=since), **calls.ARCHIVE)
            if result.latest_close is not None:
                cursor = result.latest_close - OVERLAP
                since = cursor if since is None or cursor > since else since
            await workflow.sleep(timedelta(seconds=input.interval_seconds), summary="until the next archive round")
        workflow.continue_as_new(ArchiverInput(since=since, interval_seconds=input.interval_seconds, rounds_per_run=input.rounds_per_run))
