"""The service layer: every business operation, one function each, in a module named for
what it does. The API routes, the console, the CLI, the in-process library
(`starter.local`) and the worker's switch activity all call these; none of them holds a
business rule of its own.

- `enroll`: enroll one contact (idempotent) or many (throttled, row by row)
- `commands`: pause, resume, stop, skip an enrollment; pause or resume a whole account
- `tasks`: the rep task queue; complete or skip a task
- `events`: record an event (with the suppression it implies) and deliver it; the
  same-account rule; `inbound`: what texts, emails, unsubscribes and preferences mean;
  `delivery`: background delivery and the sweeper; `rules`: rule-triggered enrollment
- `contacts`: contacts and accounts, the CSV import (`contact_import`)
- `cadences`: publishing definitions and reading them back
- `keys`: API keys; `audit`: timelines and the chain's verification (`timeline`)
- `reads`, `event_log`, `overviews`, `outbox`, `health`: what callers and pages read

Each function takes the process's `Backend` first and raises `starter.errors` errors.
"""
