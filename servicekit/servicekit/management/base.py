from django.core.checks import Tags
from django.core.management.base import BaseCommand


class HeadlessCommand(BaseCommand):
    """A command that serves no HTTP and renders nothing: servicekit's workers (relay,
    consumer) and its operations commands.

    It runs the system checks that concern it: models, databases, settings' security
    (servicekit's secret checks among them), caches. The others (URLs, templates, the
    admin's, DRF's pagination) import every view and template engine: about 20 MB more in
    each worker process and half a second more at each start. The web server and
    ``migrate`` run them all.
    """

    requires_system_checks = [Tags.models, Tags.database, Tags.security, Tags.caches]
