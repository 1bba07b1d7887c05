from notes.models import Note
from servicekit.testkit.contracts import OwnedResourceContract


class TestNoteApi(OwnedResourceContract):
    url = "/api/notes/"
    model = Note
    payload = {"title": "Groceries", "content": "Milk, eggs."}
    required = ("title", "content")
    text_field = "content"

    def test_content_may_not_be_blank(self, alice):
        for content in ["", None]:
            response = alice.client.post(self.url, {"title": "x", "content": content}, format="json")
            assert "content" in self.assert_error(response, 400)
