from django.core.management.base import CommandError

from servicekit.consumer import EventConsumer
from servicekit.kafka import event_handlers
from servicekit.management.base import HeadlessCommand
from servicekit.shutdown import StopFlag
from servicekit.telemetry import start_worker_telemetry


class Command(HeadlessCommand):
    help = "Consume this service's topics (settings.EVENTS['HANDLERS']) until SIGTERM/SIGINT."

    def handle(self, *args, **options) -> None:
        handlers = event_handlers()
        if handlers is None:
            raise CommandError("this service consumes nothing (settings.EVENTS has no HANDLERS)")
        start_worker_telemetry()
        stop = StopFlag().install()
        consumer = EventConsumer(handlers)
        consumer.wait_for_own_topics(stop)
        consumer.run(stop)
