from django.core.management.base import BaseCommand

from servicekit.kafka import all_topics, ensure_topics


class Command(BaseCommand):
    help = "Create the event and dead-letter topics that do not exist yet (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the broker")

    def handle(self, *args, timeout: float, **options) -> None:
        created = ensure_topics(timeout=timeout)
        existing = [name for name in all_topics() if name not in created]
        self.stdout.write(
            f"topics created: {', '.join(created) or 'none'}; already there: {', '.join(existing) or 'none'}"
        )
