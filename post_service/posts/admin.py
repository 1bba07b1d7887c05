from django.contrib import admin

from posts.models import Post
from servicekit.admin import OwnedResourceAdmin

admin.site.register(Post, OwnedResourceAdmin)
