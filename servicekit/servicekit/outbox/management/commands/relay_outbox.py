from django.core.management.base import BaseCommand

from servicekit.outbox.relay import OutboxRelay
from servicekit.shutdown import StopFlag


class Command(BaseCommand):
    help = "Publish outbox events to Kafka until SIGTERM/SIGINT (safe to run several at once)."

    def handle(self, *args, **options) -> None:
        OutboxRelay().run(StopFlag().install())
