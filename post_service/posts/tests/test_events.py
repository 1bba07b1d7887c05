from posts.models import Post
from servicekit.testkit.contracts import OwnedResourceEventsContract


class TestPostEvents(OwnedResourceEventsContract):
    url = "/api/posts/"
    model = Post
    payload = {"title": "Hello", "description": "First post."}
    topic = "post_events"
    name = "post"
