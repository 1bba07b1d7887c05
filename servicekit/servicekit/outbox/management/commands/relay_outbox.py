from servicekit.management.base import HeadlessCommand
from servicekit.outbox.relay import OutboxRelay
from servicekit.shutdown import StopFlag


class Command(HeadlessCommand):
    help = "Publish outbox events to Kafka until SIGTERM/SIGINT (safe to run several at once)."

    def handle(self, *args, **options) -> None:
        OutboxRelay().run(StopFlag().install())
