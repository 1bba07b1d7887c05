from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from servicekit.consumer import EventConsumer
from servicekit.shutdown import StopFlag


class Command(BaseCommand):
    help = "Consume this service's topics (settings.EVENT_CONSUMER) until SIGTERM/SIGINT."

    def handle(self, *args, **options) -> None:
        conf = settings.EVENT_CONSUMER
        consumer = EventConsumer(group=conf["group"], topics=conf["topics"], handlers=import_string(conf["handlers"]))
        consumer.run(StopFlag().install())
