from servicekit.management.base import HeadlessCommand
from servicekit.outbox.relay import OutboxRelay
from servicekit.shutdown import StopFlag
from servicekit.telemetry import start_worker_telemetry


class Command(HeadlessCommand):
    help = "Publish outbox events to Kafka until SIGTERM/SIGINT (safe to run several at once)."

    def handle(self, *args, **options) -> None:
        start_worker_telemetry()
        OutboxRelay().run(StopFlag().install())
