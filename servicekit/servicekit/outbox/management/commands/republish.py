"""``manage.py republish``: a snapshot event of every object (or some) through the outbox."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from servicekit.management.base import HeadlessCommand
from servicekit.ops.lines import parse_time
from servicekit.outbox.snapshots import declared_snapshots
from servicekit.shutdown import StopFlag


class Command(HeadlessCommand):
    help = (
        "Write a snapshot event (<aggregate>.snapshot: the object as it is now) of each current object to the "
        "outbox, in batches, each in order with the object's other events; the relay publishes them. For a new "
        "consumer, or a read model rebuilt from the topics. Resumable: each batch prints where it ended (--after). "
        "Examples: `manage.py republish`, `manage.py republish --user 5212b593-bbc9-44e9-bd31-302517558ce0`, "
        "`manage.py republish --since 2026-11-01T00:00:00Z --batch-size 200`, "
        "`manage.py republish --after 03e81ef8-c097-4d53-873b-95462be9a050`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", type=uuid.UUID, help="only this user's objects")
        parser.add_argument("--since", type=parse_time, help="only objects changed since: ISO 8601 or an age (2h, 7d)")
        parser.add_argument("--after", help="resume after this primary key (printed by each batch)")
        parser.add_argument("--batch-size", type=int, default=500, help="objects per transaction (default 500)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be republished, write nothing")
        parser.add_argument("--json", action="store_true", help="one JSON object per batch")

    def handle(self, *args: Any, user: uuid.UUID | None, since: Any, after: str | None, batch_size: int,
               dry_run: bool, **options: Any) -> None:  # fmt: skip
        declarations = declared_snapshots()
        if not declarations:
            raise CommandError("this service declares no snapshots (settings.EVENTS has no SNAPSHOTS)")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if after is not None:
            try:
                for snapshots in declarations:
                    snapshots.model._meta.pk.to_python(after)
            except ValidationError:
                raise CommandError(f"--after {after!r} is not an id of {declarations[0].name}") from None
        stop = StopFlag().install()
        for snapshots in declarations:
            try:
                objects = snapshots.objects(user=user, since=since)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if after is not None:
                objects = objects.filter(pk__gt=after)
            if dry_run:
                self.stdout.write(f"would republish {objects.count()} {snapshots.name} as {snapshots.event_type}")
                continue
            total = 0
            for number, batch in enumerate(snapshots.republish(after=after, user=user, since=since,
                                                               batch_size=batch_size), start=1):  # fmt: skip
                total += batch.count
                if options["json"]:
                    self.stdout.write(json.dumps({"type": str(snapshots.event_type), "batch": number,
                                                  "count": batch.count, "last": batch.last}))  # fmt: skip
                else:
                    self.stdout.write(f"batch {number}: {batch.count} {snapshots.event_type} (to resume: --after "
                                      f"{batch.last})")  # fmt: skip
                if stop():
                    raise CommandError(f"stopped after {total} {snapshots.name}; resume with --after {batch.last}")
            if not options["json"]:
                self.stdout.write(f"republished {total} {snapshots.name} as {snapshots.event_type} (in the outbox: "
                                  "the relay publishes them)")  # fmt: skip
