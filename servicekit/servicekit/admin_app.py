"""``django.contrib.admin`` as every service installs it: its site counts failed logins."""

from django.contrib.admin.apps import AdminConfig


class ThrottledAdminConfig(AdminConfig):
    """The admin app, with ``servicekit.admin.ThrottledAdminSite`` as ``admin.site``."""

    default_site = "servicekit.admin.ThrottledAdminSite"
