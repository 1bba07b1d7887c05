from servicekit.kafka import ensure_topics, own_topics
from servicekit.management.base import HeadlessCommand


class Command(HeadlessCommand):
    help = (
        "Create the topics this service owns (those it publishes, its dead-letter topic) that do not exist yet, "
        "with the retention they declare, and set that retention on those that exist with another."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the broker")

    def handle(self, *args, timeout: float, **options) -> None:
        changes = ensure_topics(timeout=timeout)
        existing = [name for name in own_topics() if name not in changes.created]
        self.stdout.write(
            f"topics created: {', '.join(changes.created) or 'none'}; already there: {', '.join(existing) or 'none'}"
        )
        for name, settings in changes.reconfigured.items():
            changed = ", ".join(f"{key}={now} (was {was})" for key, (was, now) in settings.items())
            self.stdout.write(f"topic {name} reconfigured: {changed}")
