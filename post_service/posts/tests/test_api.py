from posts.models import Post
from servicekit.testkit.contracts import OwnedResourceContract


class TestPostApi(OwnedResourceContract):
    url = "/api/posts/"
    model = Post
    payload = {"title": "Hello", "description": "First post."}
    text_field = "description"

    def test_description_is_optional_and_put_resets_it(self, alice):
        created = self.create(alice, description="something")
        no_description = alice.client.post(self.url, {"title": "bare"}, format="json")
        assert no_description.status_code == 201 and no_description.json()["description"] == ""
        replaced = alice.client.put(self.detail(created), {"title": "only a title"}, format="json")
        assert replaced.status_code == 200 and replaced.json()["description"] == ""
