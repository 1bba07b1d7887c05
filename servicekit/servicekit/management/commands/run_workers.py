import logging
import threading

from django.core.management.base import CommandError
from django.db import connection

from servicekit.kafka import event_handlers, published_topics
from servicekit.management.base import HeadlessCommand
from servicekit.shutdown import StopFlag
from servicekit.telemetry import start_worker_telemetry

log = logging.getLogger("servicekit")


class Command(HeadlessCommand):
    help = (
        "Run this service's outbox relay and its event consumer, those it has, in one process until "
        "SIGTERM/SIGINT (what `make run` and compose run; relay_outbox and consume_events run one each). "
        "Example: cd post_service && python manage.py run_workers"
    )

    def handle(self, *args, **options) -> None:
        start_worker_telemetry()
        stop = StopFlag().install()
        # Imported only where the service has them: each module loads the models of its app
        # (servicekit.outbox, servicekit.inbox), which a service without that app lacks.
        loops = {}
        if published_topics():
            from servicekit.outbox.relay import OutboxRelay

            loops["relay"] = lambda: OutboxRelay().run(stop)
        handlers = event_handlers()
        if handlers is not None:
            from servicekit.consumer import EventConsumer

            consumer = EventConsumer(handlers)
            loops["consumer"] = lambda: (consumer.wait_for_own_topics(stop), consumer.run(stop))
        if not loops:
            raise CommandError("this service has neither an outbox to relay nor events to consume (settings.EVENTS)")
        failed = []

        def run(name, loop) -> None:
            try:
                loop()
            except BaseException:
                log.exception("%s loop failed; stopping the others", name)
                failed.append(name)
                stop.set()
            finally:
                connection.close()  # this thread's own connection

        threads = [threading.Thread(target=run, args=item, name=item[0]) for item in loops.items()]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(0.5)  # short joins: the main thread stays free for the signal handlers
        if failed:
            raise SystemExit(1)
