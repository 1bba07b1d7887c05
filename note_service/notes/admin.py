from django.contrib import admin

from notes.models import Note
from servicekit.admin import OwnedResourceAdmin

admin.site.register(Note, OwnedResourceAdmin)
