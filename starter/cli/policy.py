"""`cadence policy check|show`: the gate's policy file and the event rules."""

from __future__ import annotations

import typer

from cadence.parse import DefinitionError
from starter.catalog import POLICY_FILE, RULES_FILE, load_policy, load_rules
from starter.cli.common import INVALID, Context, emit, fail, guarded, make_table, out

app = typer.Typer(no_args_is_help=True)


@app.command("check")
@guarded
def check(ctx: typer.Context) -> None:
    """Validate POLICY_FILE and RULES_FILE (or the shipped ones); errors name the field."""
    obj: Context = ctx.obj
    settings = obj.settings
    try:
        policy = load_policy(settings.policy_file)
        rules = load_rules(settings.rules_file)
    except DefinitionError as error:
        fail(str(error), code=INVALID, as_json=obj.json)
    except OSError as error:
        fail(str(error), code=INVALID, as_json=obj.json)
    data = {
        "policy_file": settings.policy_file or str(POLICY_FILE),
        "segments": len(policy.segments),
        "rules_file": settings.rules_file or str(RULES_FILE),
        "rules": len(rules.rules),
    }
    emit(
        data,
        as_json=obj.json,
        table=lambda: (
            f"policy OK: {data['policy_file']} ({data['segments']} segments); rules OK: {data['rules_file']} ({data['rules']} rules)"
        ),
    )


@app.command("show")
@guarded
def show(ctx: typer.Context) -> None:
    """The segment matrix: which contacts get which default cadence, window and caps."""
    obj: Context = ctx.obj
    policy = load_policy(obj.settings.policy_file)
    rows = []
    for segment in policy.segments:
        m, p = segment.match, segment.policy
        window = p.send_window or policy.defaults.send_window
        caps = p.caps or policy.defaults.caps
        rows.append(
            {
                "segment": segment.name,
                "persona": m.persona or "any",
                "industry_group": m.industry_group or "any",
                "tier": m.tier or "any",
                "cadence": segment.cadence,
                "window": f"{','.join(window.days)} {window.start}-{window.end}" if window else "any time",
                "caps": f"{caps.max_touches} per {caps.per_days} d, {caps.min_gap_hours} h apart" if caps else "none",
            }
        )
    emit(
        rows,
        as_json=obj.json,
        table=lambda: make_table(
            "Segments (first match wins; regulated industries are narrowed further)",
            ["segment", "persona", "industry", "tier", "cadence", "window", "caps"],
            [(r["segment"], r["persona"], r["industry_group"], r["tier"], r["cadence"], r["window"], r["caps"]) for r in rows],
        ),
    )
    if not obj.json:
        out.print(f"regulated industries: {', '.join(policy.regulated.industries) or 'none'}")
