"""``manage.py outbox``: what waits in this service's outbox; retry or discard parked rows."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from servicekit.management.base import HeadlessCommand
from servicekit.ops.lines import age, iso
from servicekit.outbox.models import OutboxEvent
from servicekit.outbox.relay import request_rescan, retry_parked

log = logging.getLogger("servicekit.outbox")


def _row(row: OutboxEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": "parked" if row.parked_at else "pending",
        "type": row.event_type,
        "topic": row.topic,
        "key": row.key,
        "event_id": str(row.event_id),
        "created_at": iso(row.created_at),
        "parked_at": iso(row.parked_at) if row.parked_at else None,
        "attempts": row.attempts,
        "error": row.last_error,
    }


def _waiting_behind(row: OutboxEvent) -> int:
    return OutboxEvent.objects.filter(key=row.key, id__gt=row.id).count()


class Command(HeadlessCommand):
    help = (
        "The events waiting in this service's outbox: pending ones (the relay publishes them) and parked ones "
        "(the broker refused them for good; the later events of their key wait behind them). Retry a parked row "
        "once the cause is fixed, or discard it with a reason. "
        "Examples: `manage.py outbox list`, `manage.py outbox list --parked --json`, `manage.py outbox retry 42`, "
        "`manage.py outbox retry --all-parked`, `manage.py outbox discard 42 --reason 'over the size limit'`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="pending and parked rows, oldest first, with a count")
        listing.add_argument("--parked", action="store_true", help="only the parked rows")
        listing.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
        listing.add_argument("--json", action="store_true", help="one JSON object per row")
        retry = actions.add_parser("retry", help="publish parked rows again (and the rows of their keys behind them)")
        retry.add_argument("ids", nargs="*", type=int, metavar="ID")
        retry.add_argument("--all-parked", action="store_true", help="every parked row")
        discard = actions.add_parser("discard", help="delete parked rows: their events are never published")
        discard.add_argument("ids", nargs="+", type=int, metavar="ID")
        discard.add_argument("--reason", required=True, help="why (logged)")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, f"_{action}")(**options)

    def _list(self, *, parked: bool, limit: int, **options: Any) -> None:
        rows = OutboxEvent.objects.order_by("id")
        if parked:
            rows = rows.filter(parked_at__isnull=False)
        for row in rows[:limit]:
            doc = _row(row)
            if options["json"]:
                self.stdout.write(json.dumps(doc))
                continue
            line = f"{row.id} {doc['state']} {row.event_type} key={row.key} age={age(row.created_at)}"
            line += f" attempts={row.attempts}"
            if row.parked_at:
                line += f" parked={iso(row.parked_at)} error={json.dumps(row.last_error[:160])}"
            self.stdout.write(line)
        if not options["json"]:
            pending = OutboxEvent.objects.filter(parked_at__isnull=True)
            oldest = pending.order_by("id").values_list("created_at", flat=True).first()
            count = OutboxEvent.objects.filter(parked_at__isnull=False).count()
            self.stdout.write(
                f"outbox: {pending.count()} pending (oldest {age(oldest, timezone.now())}), {count} parked"
            )

    def _retry(self, *, ids: list[int], all_parked: bool, **options: Any) -> None:
        if not ids and not all_parked:
            raise CommandError("retry needs row ids or --all-parked (see: manage.py outbox list --parked)")
        rows = OutboxEvent.objects.filter(parked_at__isnull=False)
        chosen = list(rows.order_by("id") if all_parked else rows.filter(id__in=ids).order_by("id"))
        self._refuse_unknown(ids, chosen)
        behind = {row.id: _waiting_behind(row) for row in chosen}
        retried = retry_parked(row.id for row in chosen)
        for row in chosen:
            self.stdout.write(f"retrying {row.id} {row.event_type} key={row.key}; {behind[row.id]} later event(s) "
                              "of its key follow it")  # fmt: skip
        self.stdout.write(f"{retried} parked row(s) will be published again")

    def _discard(self, *, ids: list[int], reason: str, **options: Any) -> None:
        with transaction.atomic():
            chosen = list(
                OutboxEvent.objects.select_for_update().filter(id__in=ids, parked_at__isnull=False).order_by("id")
            )
            self._refuse_unknown(ids, chosen)
            behind = {row.id: _waiting_behind(row) for row in chosen}
            OutboxEvent.objects.filter(id__in=[row.id for row in chosen]).delete()
            request_rescan()  # what waited behind them can go now
        for row in chosen:
            log.warning("outbox: row %d (%s, key %s, event %s) discarded by an operator: %s", row.id, row.event_type,
                        row.key, row.event_id, reason)  # fmt: skip
            self.stdout.write(f"discarded {row.id} {row.event_type} key={row.key} (event {row.event_id}, never "
                              f"published); {behind[row.id]} later event(s) of its key can go now")  # fmt: skip

    @staticmethod
    def _refuse_unknown(ids: list[int], chosen: list[OutboxEvent]) -> None:
        missing = sorted(set(ids) - {row.id for row in chosen})
        if missing:
            pending = OutboxEvent.objects.filter(id=missing[0]).exists()
            why = "is pending, not parked (the relay publishes it)" if pending else "is not in the outbox"
            raise CommandError(f"outbox row {missing[0]} {why}; nothing was changed")
