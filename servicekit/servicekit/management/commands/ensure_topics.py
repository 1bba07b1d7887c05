from django.core.management.base import BaseCommand

from servicekit.kafka import ensure_topics, own_topics


class Command(BaseCommand):
    help = "Create the topics this service owns (those it publishes, its dead-letter topic) that do not exist yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the broker")

    def handle(self, *args, timeout: float, **options) -> None:
        created = ensure_topics(timeout=timeout)
        existing = [name for name in own_topics() if name not in created]
        self.stdout.write(
            f"topics created: {', '.join(created) or 'none'}; already there: {', '.join(existing) or 'none'}"
        )
