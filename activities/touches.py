"""send_email and send_sms: the claim-then-send protocol that never sends twice.

1. In one transaction, under a per-contact advisory lock: look for this touch's claim; run
   the gate (suppression, consent, preferences); render; write the claim row. An opt-out
   committed before this transaction always wins.
2. Call the provider (never while holding the lock or a transaction).
3. Mark the claim sent with the provider's id, and update the enrollment mirror.

A retry that finds its claim already sent returns it without sending. A retry that finds
its claim still "claimed" (the earlier attempt died mid-send) reconciles: for SMS it looks
for the text at Twilio first; email is resent with the same deterministic Message-ID.
Permanent provider errors are raised as non-retryable ApplicationErrors.
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

from activities.channels import PermanentSendError, SmsSender, SmtpMailer, TransientSendError, build_email
from activities.gatekeeping import attempt_time, contact_facts, decide_touch, record_decision
from activities.render import Rendered, context, links, render_email, render_sms
from cadence.contact_policy import ContactPolicy
from cadence.gate import GateDecision, check_contact
from cadence.ids import message_id, touch_key
from core.db import transaction
from core.settings import Settings
from models import audit, locks, mirror
from models.cadences import bundle_of
from models.contacts import suppress
from models.payloads import TouchInput, TouchResult
from models.tables import Account, Contact, Owner, Touch
from workflows.calls import BOUNCED, INVALID_INPUT, SEND_REJECTED, TEMPLATE_ERROR


@dataclass
class Claim:
    """A claimed touch, ready to deliver."""

    touch_id: uuid.UUID
    key: str
    address: str
    rendered: Rendered
    template_version: str
    ambiguous: bool
    claimed_at: dt.datetime
    from_name: str
    reply_to: str | None
    sms_from: str | None
    unsubscribe_url: str


class TouchActivities:
    """Email and SMS sends. Clients are injected; each activity is idempotent by touch key."""

    def __init__(self, engine: Engine, settings: Settings, mailer: SmtpMailer, sms: SmsSender, policy: ContactPolicy) -> None:
        self.engine = engine
        self.settings = settings
        self.mailer = mailer
        self.sms = sms
        self.policy = policy

    @activity.defn(name="send_email")
    def send_email(self, touch: TouchInput) -> TouchResult:
        """Send one email of an enrollment step (at most once per touch key, gate permitting)."""
        return self._send(touch, self._deliver_email)

    @activity.defn(name="send_sms")
    def send_sms(self, touch: TouchInput) -> TouchResult:
        """Send one text of an enrollment step (at most once per touch key, gate permitting)."""
        return self._send(touch, self._deliver_sms)

    # --- protocol --------------------------------------------------------------------------

    def _send(self, touch: TouchInput, deliver: Callable[[Claim], str]) -> TouchResult:
        key = touch_key(touch.enrollment_id, touch.step_id, touch.occurrence, touch.round)
        claim_or_result = self._claim(touch, key)
        if isinstance(claim_or_result, TouchResult):
            return claim_or_result
        claim = claim_or_result
        try:
            provider_id = deliver(claim)
        except PermanentSendError as err:
            self._failed(touch, claim, err)
            raise ApplicationError(
                err.message, {"code": err.code}, type=BOUNCED if err.bounce else SEND_REJECTED, non_retryable=True
            ) from None
        except TransientSendError as err:
            self._attempt_failed(claim, err)
            raise ApplicationError(err.message, {"code": err.code}, type="TransientSendError", next_retry_delay=err.retry_after) from None
        return self._sent(touch, claim, provider_id)

    def _claim(self, touch: TouchInput, key: str) -> Claim | TouchResult:
        contact_id = uuid.UUID(touch.contact_id)
        with transaction(self.engine) as session:
            locks.hold_contact(session, contact_id)
            existing = session.exec(select(Touch).where(Touch.key == key)).first()
            if existing is not None and existing.status not in ("claimed",):
                return self._result_of(existing)
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
            now = attempt_time()
            bundle = bundle_of(session, touch.cadence_version_id)
            sender = self._sender(touch.channel, owner)
            if existing is None:
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
                )
            else:
                # A retry after an unclear send: only an opt-out (or similar) may still stop it;
                # the time rules were satisfied when the touch was first claimed.
                decision = check_contact(contact_facts(session, contact), touch.channel, touch.topic)
            if decision.action != "allow":
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
            try:
                if touch.channel == "email":
                    rendered = render_email(template, ctx, self.settings)
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
            except jinja2.TemplateError as exc:
                # Nothing is claimed for a message that cannot be rendered.
                raise ApplicationError(
                    f"template {touch.template} failed to render: {exc}", type=TEMPLATE_ERROR, non_retryable=True
                ) from None
            if existing is None:
                # A plain INSERT: the claim is written once and never loaded back as an object.
                touch_id, claimed_at, ambiguous = uuid.uuid4(), now, False
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
                touch_id, claimed_at, ambiguous = existing.id, existing.claimed_at, True
            address = contact.email if touch.channel == "email" else contact.phone
            assert address is not None
            return Claim(
                touch_id=touch_id,
                key=key,
                address=address,
                rendered=rendered,
                template_version=template.version,
                ambiguous=ambiguous,
                claimed_at=claimed_at,
                from_name=owner.name if owner else self.settings.mail_from_name,
                reply_to=owner.email if owner and owner.email else None,
                sms_from=owner.sms_from if owner else None,
                unsubscribe_url=links(self.settings, contact)["unsubscribe_url"],
            )

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
        status = {"sent": "sent", "delivered": "sent", "undelivered": "sent", "failed": "sent", "skipped": "skipped", "stopped": "stopped"}
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
        with self.engine.begin() as conn:
            mirror.mark_sent(conn, claim.touch_id, provider_id, touch.mirror)
        return TouchResult(
            status="sent",
            touch_key=claim.key,
            touch_id=str(claim.touch_id),
            provider_id=provider_id,
            template_version=claim.template_version,
        )

    def _failed(self, touch: TouchInput, claim: Claim, err: PermanentSendError) -> None:
        with transaction(self.engine) as session:
            row = session.get(Touch, claim.touch_id)
            contact = session.get(Contact, uuid.UUID(touch.contact_id))
            assert row is not None and contact is not None
            row.status = "failed"
            row.error_code = err.code
            row.error = err.message
            row.status_at = dt.datetime.now(dt.UTC)
            session.add(row)
            if err.bounce:
                suppress(session, contact, channel=touch.channel, reason="bounce", source=err.code)
            if err.unsubscribed:
                suppress(session, contact, channel=touch.channel, reason="stop", source=err.code)
            audit.append(
                session,
                actor="system",
                action="send_failed",
                enrollment_id=touch.enrollment_id,
                contact_id=touch.contact_id,
                reason=err.message,
                details={"step_id": touch.step_id, "channel": touch.channel, "code": err.code, "bounce": err.bounce},
            )

    def _attempt_failed(self, claim: Claim, err: TransientSendError) -> None:
        with transaction(self.engine) as session:
            row = session.get(Touch, claim.touch_id)
            assert row is not None
            row.error_code = err.code
            row.error = err.message
            session.add(row)

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
        if claim.ambiguous:
            found = self.sms.find_sent(to=claim.address, body=body, since=claim.claimed_at - dt.timedelta(minutes=1))
            if found is not None:
                return found
        callback = f"{self.settings.public_base_url.rstrip('/')}/webhooks/twilio/status"
        return self.sms.send(to=claim.address, body=body, sender=claim.sms_from, status_callback=callback, touch_key=claim.key)
