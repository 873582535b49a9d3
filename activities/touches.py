"""send_email and send_sms: the claim-then-send protocol that never sends twice.

1. In one transaction, under a per-contact advisory lock: look for this touch's claim; run
   the gate (suppression, consent, preferences, and the time rules at this attempt's own
   moment); render; write the claim row. An opt-out committed before this transaction
   always wins.
2. Call the provider (never while holding the lock or a transaction). A text carries a
   validity period that ends when the contact's allowed hours do.
3. Mark the claim sent with the provider's id, and update the enrollment mirror (retried
   in-process through a short database outage: see activities.outcomes).

A retry that finds its claim sent (or unclear) returns it without sending. One that finds
it "retrying" (the provider refused for now) runs the whole gate again and sends. One that
finds it "claimed" (the earlier attempt died with the message possibly accepted) asks
first: Twilio's message list for a text; for an email the `SentLookup` (by the touch's
deterministic Message-ID). Accepted: marked sent, not resent. Not accepted: sent, gate
permitting. Unknown: held as "unclear" for an operator (UNCLEAR_EMAIL=hold, the default),
or resent with the same Message-ID (resend). Permanent provider errors are raised as
non-retryable ApplicationErrors.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jinja2
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import outcomes
from activities.channels import PermanentSendError, SmsSender, SmtpMailer, TransientSendError, build_email
from activities.gatekeeping import AttemptClock, decide_touch, record_decision
from activities.lookups import NoLookup, SentLookup
from activities.render import Rendered, context, links, render_email, render_sms, tracked
from cadence.contact_policy import ContactPolicy
from cadence.gate import GateDecision
from cadence.ids import message_id, touch_key
from core import metrics
from core.db import transaction
from core.settings import Settings
from models import locks, mirror
from models.cadences import bundle_of
from models.payloads import TouchInput, TouchResult
from models.tables import Account, Contact, Owner, Touch
from workflows.calls import BOUNCED, INVALID_INPUT, SEND_REJECTED, TEMPLATE_ERROR


@dataclass
class Claim:
    """A claimed touch, ready to deliver. `ambiguous`: an earlier attempt may have sent it;
    `decision` is what the gate says now, applied once the earlier attempt is settled."""

    touch_id: uuid.UUID
    key: str
    channel: str
    address: str
    rendered: Rendered
    template_version: str
    ambiguous: bool
    decision: GateDecision
    clock: AttemptClock
    claimed_at: dt.datetime
    from_name: str
    reply_to: str | None
    sms_from: str | None
    unsubscribe_url: str


class TouchActivities:
    """Email and SMS sends. Clients are injected; each activity is idempotent by touch key."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        mailer: SmtpMailer,
        sms: SmsSender,
        policy: ContactPolicy,
        lookup: SentLookup | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.sms = sms
        self.policy = policy
        self.lookup = lookup or NoLookup()

    @activity.defn(name="send_email")
    def send_email(self, touch: TouchInput) -> TouchResult:
        """Send one email of an enrollment step (at most once per touch key, gate permitting)."""
        return self._counted(touch, self._deliver_email)

    @activity.defn(name="send_sms")
    def send_sms(self, touch: TouchInput) -> TouchResult:
        """Send one text of an enrollment step (at most once per touch key, gate permitting)."""
        return self._counted(touch, self._deliver_sms)

    # --- protocol --------------------------------------------------------------------------

    def _counted(self, touch: TouchInput, deliver: Callable[[Claim], str]) -> TouchResult:
        """`_send`, with the attempt's outcome counted for /metrics."""
        try:
            result = self._send(touch, deliver)
        except ApplicationError as err:
            metrics.TOUCHES.labels(touch.channel, "failed" if err.non_retryable else "retrying").inc()
            raise
        metrics.TOUCHES.labels(touch.channel, result.status).inc()
        return result

    def _send(self, touch: TouchInput, deliver: Callable[[Claim], str]) -> TouchResult:
        key = touch_key(touch.enrollment_id, touch.step_id, touch.occurrence, touch.round)
        clock = AttemptClock()
        claim_or_result = self._claim(touch, key, clock)
        if isinstance(claim_or_result, TouchResult):
            return claim_or_result
        claim = claim_or_result
        if claim.ambiguous:
            settled = self._settle(touch, claim)
            if settled is not None:
                return settled
            if claim.decision.action != "allow":
                return self._refuse_retry(touch, claim)
        try:
            provider_id = deliver(claim)
        except PermanentSendError as err:
            outcomes.mark_failed(
                self.engine, touch, claim.touch_id, err.code, err.message, bounce=err.bounce, unsubscribed=err.unsubscribed
            )
            raise ApplicationError(
                err.message, {"code": err.code}, type=BOUNCED if err.bounce else SEND_REJECTED, non_retryable=True
            ) from None
        except TransientSendError as err:
            outcomes.mark_retrying(self.engine, claim.touch_id, err.code, err.message, ambiguous=err.ambiguous)
            raise ApplicationError(err.message, {"code": err.code}, type="TransientSendError", next_retry_delay=err.retry_after) from None
        return self._sent(touch, claim, provider_id)

    def _settle(self, touch: TouchInput, claim: Claim) -> TouchResult | None:
        """An earlier attempt died after claiming: did its message go out? Returns the
        result when that settles the touch, None when it is to be sent (it did not)."""
        since = claim.claimed_at - dt.timedelta(minutes=1)
        if claim.channel == "sms":
            body = claim.rendered.body or ""
            found = self.sms.find_sent(to=claim.address, body=body, since=since)
            if found is None:
                return None
            outcomes.reconciled(self.engine, touch, claim.touch_id, "Twilio's message list")
            return self._sent(touch, claim, found)
        mid = message_id(claim.key, self.settings.message_id_domain)
        accepted = self.lookup.accepted(mid, to=claim.address, since=since)
        if accepted:
            outcomes.reconciled(self.engine, touch, claim.touch_id, f"the {self.lookup.name} lookup")
            return self._sent(touch, claim, mid)
        if accepted is False or self.settings.unclear_email == "resend":
            return None
        reason = (
            f"an earlier attempt to send this email was cut off at {claim.claimed_at:%Y-%m-%d %H:%M:%S} UTC and the "
            f"transport cannot tell whether it was accepted (EMAIL_LOOKUP={self.lookup.name}); held, not sent again"
        )
        outcomes.mark_unclear(self.engine, touch, claim.touch_id, mid, reason)
        return TouchResult(
            status="unclear",
            touch_key=claim.key,
            touch_id=str(claim.touch_id),
            provider_id=mid,
            template_version=claim.template_version,
            reason_code=outcomes.UNCLEAR,
            reason=reason,
        )

    def _refuse_retry(self, touch: TouchInput, claim: Claim) -> TouchResult:
        """The earlier attempt did not send, and the gate now says no (the window closed, the
        contact opted out meanwhile): apply that refusal to the claim."""
        with transaction(self.engine) as session:
            locks.hold_contact(session, uuid.UUID(touch.contact_id))
            row = session.get(Touch, claim.touch_id)
            contact = session.get(Contact, uuid.UUID(touch.contact_id))
            assert row is not None and contact is not None
            row.status = "retrying"  # known not sent: the next attempt need not ask again
            return self._refused(session, touch, claim.key, contact, claim.decision, row)

    def _claim(self, touch: TouchInput, key: str, clock: AttemptClock) -> Claim | TouchResult:
        contact_id = uuid.UUID(touch.contact_id)
        with transaction(self.engine) as session:
            locks.hold_contact(session, contact_id)
            existing = session.exec(select(Touch).where(Touch.key == key)).first()
            if existing is not None and existing.status not in ("claimed", "retrying"):
                return self._result_of(existing)
            ambiguous = existing is not None and existing.status == "claimed"
            # The contact, its account and its owner in one round trip: the lock is held meanwhile.
            loaded = session.exec(
                select(Contact, Account, Owner)
                .outerjoin(Account, Account.id == Contact.account_id)  # type: ignore[arg-type]
                .outerjoin(Owner, Owner.id == Contact.owner_id)  # type: ignore[arg-type]
                .where(Contact.id == contact_id)
            ).first()
            if loaded is None:
                raise ApplicationError(f"contact {contact_id} does not exist", type=INVALID_INPUT, non_retryable=True)
            contact, account, owner = loaded
            now = clock.now()
            bundle = bundle_of(session, touch.cadence_version_id)
            sender = self._sender(touch.channel, owner)
            # Every attempt is judged at its own moment: a text retried through a Twilio
            # 429 storm may not go out once quiet hours have begun.
            decision = decide_touch(
                session,
                contact=contact,
                account=account,
                channel=touch.channel,
                topic=touch.topic,
                cadence_rules=bundle.definition.policy,
                config=self.policy,
                now=now,
                sender=sender,
                spread_key=f"{touch.enrollment_id}:{touch.step_id}",
                own_key=key if existing is not None else None,
            )
            metrics.GATE_DECISIONS.labels(decision.action, decision.code).inc()
            if decision.action != "allow" and not ambiguous:
                return self._refused(session, touch, key, contact, decision, existing)
            template = bundle.templates.get(touch.template)
            if template is None:
                raise ApplicationError(
                    f"template {touch.template!r} is not part of cadence version {touch.cadence_version_id}",
                    type=INVALID_INPUT,
                    non_retryable=True,
                )
            ctx = context(
                self.settings,
                contact=contact,
                account=account,
                owner=owner,
                cadence_key=bundle.definition.key,
                cadence_name=bundle.definition.name,
                step_id=touch.step_id,
                occurrence=touch.occurrence,
                round_=touch.round,
            )
            # The touch's id is known before it is claimed: its tracking links carry it.
            touch_id = existing.id if existing is not None else uuid.uuid4()
            try:
                if touch.channel == "email":
                    rendered = render_email(template, ctx, self.settings)
                    rendered = tracked(
                        rendered, touch_id, self.settings, ctx, regulated=self._regulated(contact, account), today=now.date()
                    )
                else:
                    first = (
                        session.exec(
                            select(Touch.id)
                            .where(Touch.contact_id == contact_id, Touch.channel == "sms", Touch.key != key, Touch.status != "skipped")
                            .limit(1)
                        ).first()
                        is None
                    )
                    rendered = render_sms(template, ctx, first_text=first)
            except Exception as exc:
                # Whatever the template trips on (a missing variable, a filter given the wrong
                # kind of value), it will trip again for this contact: permanent for this
                # touch, and nothing is claimed for a message that cannot be rendered.
                what = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else f"{type(exc).__name__}: {exc}"
                raise ApplicationError(
                    f"template {touch.template} cannot be rendered for this contact: {what}", type=TEMPLATE_ERROR, non_retryable=True
                ) from None
            if existing is None:
                # A plain INSERT: the claim is written once and never loaded back as an object.
                claimed_at = now
                session.exec(
                    sa.insert(Touch).values(
                        id=touch_id,
                        key=key,
                        enrollment_id=uuid.UUID(touch.enrollment_id),
                        contact_id=contact_id,
                        step_id=touch.step_id,
                        channel=touch.channel,
                        variant=touch.variant,
                        template=touch.template,
                        template_version=template.version,
                        sender=sender,
                        status="claimed",
                        attempts=1,
                        scheduled_at=touch.scheduled_at,
                        claimed_at=now,
                    )
                )
            else:
                existing.attempts += 1
                session.add(existing)
                session.flush()
                claimed_at = existing.claimed_at
            address = contact.email if touch.channel == "email" else contact.phone
            assert address is not None
            return Claim(
                touch_id=touch_id,
                key=key,
                channel=touch.channel,
                address=address,
                rendered=rendered,
                template_version=template.version,
                ambiguous=ambiguous,
                decision=decision,
                clock=clock,
                claimed_at=claimed_at,
                from_name=owner.name if owner else self.settings.mail_from_name,
                reply_to=owner.email if owner and owner.email else None,
                sms_from=owner.sms_from if owner else None,
                unsubscribe_url=links(self.settings, contact)["unsubscribe_url"],
            )

    def _regulated(self, contact: Contact, account: Account | None) -> bool:
        industry = contact.industry or (account.industry if account else None)
        return self.policy.industry_group(industry) == "regulated"

    def _sender(self, channel: str, owner: Owner | None) -> str | None:
        """Who the touch goes out from: the mailbox, or the Twilio number or service."""
        if channel == "email":
            return self.settings.mail_from_address
        return (owner.sms_from if owner else None) or self.settings.twilio_from_number or self.settings.twilio_messaging_service_sid

    def _refused(
        self, session: Session, touch: TouchInput, key: str, contact: Contact, decision: GateDecision, existing: Touch | None
    ) -> TouchResult:
        """The gate said no: a skip or stop settles the touch key; every refusal is audited
        (last, since the audit chain's lock is held until commit)."""
        if decision.action == "defer":
            record_decision(session, touch, decision)
            return TouchResult(
                status="deferred", touch_key=key, reason_code=decision.code, reason=decision.reason, defer_until=decision.until
            )
        row = existing or Touch(
            key=key,
            enrollment_id=uuid.UUID(touch.enrollment_id),
            contact_id=contact.id,
            step_id=touch.step_id,
            channel=touch.channel,
            variant=touch.variant,
            template=touch.template,
            scheduled_at=touch.scheduled_at,
        )
        row.status = "skipped" if decision.action == "skip" else "stopped"
        row.error_code = decision.code
        row.error = decision.reason
        row.status_at = dt.datetime.now(dt.UTC)
        session.add(row)
        if decision.action == "skip" and touch.mirror is not None:
            mirror.write_hint(session, touch.enrollment_id, touch.mirror)
        session.flush()
        record_decision(session, touch, decision)
        return self._result_of(row)

    @staticmethod
    def _result_of(row: Touch) -> TouchResult:
        status = {
            "sent": "sent",
            "delivered": "sent",
            "undelivered": "sent",
            "failed": "sent",
            "skipped": "skipped",
            "stopped": "stopped",
            "unclear": "unclear",
        }
        return TouchResult(
            status=status.get(row.status, "sent"),
            touch_key=row.key,
            touch_id=str(row.id),
            provider_id=row.provider_id,
            template_version=row.template_version,
            reason_code=row.error_code,
            reason=row.error,
            duplicate=True,
        )

    def _sent(self, touch: TouchInput, claim: Claim, provider_id: str) -> TouchResult:
        # One statement, one round trip: the touch is marked sent and the mirror counts it.
        outcomes.mark_sent(self.engine, claim.touch_id, provider_id, touch.mirror)
        return TouchResult(
            status="sent",
            touch_key=claim.key,
            touch_id=str(claim.touch_id),
            provider_id=provider_id,
            template_version=claim.template_version,
        )

    # --- delivery --------------------------------------------------------------------------

    def _deliver_email(self, claim: Claim) -> str:
        rendered = claim.rendered
        assert rendered.subject and rendered.html and rendered.text
        mid = message_id(claim.key, self.settings.message_id_domain)
        self.mailer.send(
            build_email(
                from_name=claim.from_name,
                from_address=self.settings.mail_from_address,
                reply_to=claim.reply_to,
                to=claim.address,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=mid,
                unsubscribe_url=claim.unsubscribe_url,
                unsubscribe_mailto=self.settings.unsubscribe_mailto,
                touch_id=str(claim.touch_id),
            )
        )
        return mid

    def _deliver_sms(self, claim: Claim) -> str:
        body = claim.rendered.body
        assert body
        callback = f"{self.settings.public_base_url.rstrip('/')}/webhooks/twilio/status"
        closes = claim.decision.open_until
        valid_for = round((closes - claim.clock.now()).total_seconds()) if closes is not None else None
        return self.sms.send(
            to=claim.address, body=body, sender=claim.sms_from, status_callback=callback, touch_key=claim.key, valid_for=valid_for
        )
