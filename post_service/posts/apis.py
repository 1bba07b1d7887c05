from posts.selectors import post_list
from posts.serializers import PostSerializer
from posts.services import post_create, post_delete, post_update
from servicekit.api import OwnedResourceViewSet, ResourceServices


class PostViewSet(OwnedResourceViewSet):
    """The caller's posts. ``?search=`` matches titles; ``?ordering=`` created_at, updated_at, title."""

    serializer_class = PostSerializer
    selector = staticmethod(post_list)
    services = ResourceServices(name="post", create=post_create, update=post_update, delete=post_delete)
