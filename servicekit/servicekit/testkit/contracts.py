"""The behaviour every per-user CRUD resource shares, as one reusable test class.

A service's test module subclasses it and names its resource::

    class TestPostApi(OwnedResourceContract):
        url = "/api/posts/"
        model = Post
        payload = {"title": "Hello", "description": "World"}
        text_field = "description"

The tests drive the HTTP API with tokens made the way user_service makes them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

import pytest
from django.db.models import Model

from servicekit.testkit.service import assert_openapi_schema_valid
from servicekit.testkit.tokens import MALFORMED_CLAIMS, forge_token, mint_access_token, with_claims

WRONG_KEY = "not-the-shared-key-but-just-as-long-as-it"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


class Caller:
    """A user of the API: their id and a client that sends their access token."""

    def __init__(self, client_class: type, user_id: uuid.UUID | None = None) -> None:
        self.id = user_id or uuid.uuid4()
        self.client = client_class()
        self.client.credentials(**bearer(mint_access_token(self.id)))


class ResourceApi:
    """What both contracts know of the resource under test, and how to call it."""

    url: ClassVar[str]
    model: ClassVar[type[Model]]
    #: A valid create body: every required field (``title`` first) and the others.
    payload: ClassVar[dict[str, str]]

    @pytest.fixture
    def alice(self) -> Caller:
        from rest_framework.test import APIClient

        return Caller(APIClient)

    @pytest.fixture
    def bob(self) -> Caller:
        from rest_framework.test import APIClient

        return Caller(APIClient)

    def create(self, caller: Caller, **overrides: Any) -> dict[str, Any]:
        response = caller.client.post(self.url, {**self.payload, **overrides}, format="json")
        assert response.status_code == 201, response.content[:500]
        return response.json()

    def detail(self, obj: dict[str, Any] | str) -> str:
        return f"{self.url}{obj['id'] if isinstance(obj, dict) else obj}/"


@pytest.mark.django_db
class OwnedResourceContract(ResourceApi):
    #: Fields PUT and POST must have.
    required: ClassVar[tuple[str, ...]] = ("title",)
    #: The free-text field limited by MAX_TEXT_BYTES.
    text_field: ClassVar[str]

    @staticmethod
    def assert_error(response: Any, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.content[:500]
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert isinstance(body, dict) and body
        return body

    def assert_401(self, response: Any, name: str = "") -> None:
        assert response.status_code == 401, (name, response.content)
        assert response["WWW-Authenticate"].startswith("Bearer"), name
        assert "detail" in self.assert_error(response, 401)

    # -- CRUD ----------------------------------------------------------------------------

    def test_crud_round_trip(self, alice: Caller) -> None:
        created = self.create(alice)
        assert set(created) == {"id", "user_id", *self.payload, "created_at", "updated_at"}
        assert created["user_id"] == str(alice.id)
        assert {k: created[k] for k in self.payload} == self.payload

        fetched = alice.client.get(self.detail(created))
        assert fetched.status_code == 200 and fetched.json() == created

        replaced = alice.client.put(self.detail(created), {**self.payload, "title": "Replaced"}, format="json")
        assert replaced.status_code == 200 and replaced.json()["title"] == "Replaced"
        assert replaced.json()["updated_at"] > created["updated_at"]

        patched = alice.client.patch(self.detail(created), {"title": "  Patched  "}, format="json")
        assert patched.status_code == 200 and patched.json()["title"] == "Patched"
        assert patched.json()[self.text_field] == self.payload[self.text_field]

        listed = alice.client.get(self.url + "?count=true").json()
        assert listed["count"] == 1 and listed["results"][0]["id"] == created["id"]

        assert alice.client.delete(self.detail(created)).status_code == 204
        assert alice.client.get(self.detail(created)).status_code == 404
        assert not self.model.objects.filter(id=created["id"]).exists()

    def test_list_is_newest_first_searchable_and_orderable(self, alice: Caller) -> None:
        for title in ["banana", "apple", "cherry pie", "apple pie"]:
            self.create(alice, title=title)
        titles = lambda query: [o["title"] for o in alice.client.get(self.url + query).json()["results"]]  # noqa: E731
        assert titles("") == ["apple pie", "cherry pie", "apple", "banana"]
        assert titles("?search=PIE") == ["apple pie", "cherry pie"]
        assert titles("?ordering=title") == ["apple", "apple pie", "banana", "cherry pie"]
        assert titles("?ordering=-title") == ["cherry pie", "banana", "apple pie", "apple"]
        assert titles("?ordering=created_at") == ["banana", "apple", "cherry pie", "apple pie"]
        assert titles("?ordering=user_id") == titles("")  # not an ordering field: ignored

    def test_pagination_and_page_size_clamp(self, alice: Caller, settings: Any) -> None:
        settings.MAX_PAGE_SIZE = 5
        for i in range(7):
            self.create(alice, title=f"item {i}")
        first = alice.client.get(self.url + "?page_size=3").json()
        assert first["count"] is None and len(first["results"]) == 3 and first["next"] and first["previous"] is None
        last = alice.client.get(first["next"].replace("page=2", "page=3")).json()
        assert len(last["results"]) == 1 and last["next"] is None and "page=2" in last["previous"]
        assert alice.client.get(self.url + "?page_size=3&count=true").json()["count"] == 7
        self.assert_error(alice.client.get(self.url + "?count=yes"), 400)
        assert len(alice.client.get(self.url + "?page_size=100000").json()["results"]) == 5
        assert len(alice.client.get(self.url + "?page_size=" + "9" * 40).json()["results"]) == 5
        for abuse in ["0", "-1", "abc", "1e9", "", "%00", "%205", "+5", "%D9%A7", "1_0", "9" * 5000]:
            response = alice.client.get(self.url + f"?page_size={abuse}")
            assert "page_size" in self.assert_error(response, 400), abuse
        for page in ["999", "abc", "0", "-1", "", "last", "%201", "9" * 5000]:
            self.assert_error(alice.client.get(self.url + f"?page={page}"), 404)

    @pytest.mark.parametrize(
        "query",
        ["page=1&page=1", "page_size=null&page_size=null", "search=a&search=b", "ordering=title&ordering=-title",
         "ordering=%00", "search=a%00b"],
    )  # fmt: skip
    def test_query_parameters_given_twice_or_with_nul_are_400_naming_them(self, alice: Caller, query: str) -> None:
        body = self.assert_error(alice.client.get(f"{self.url}?{query}"), 400)
        assert set(body) == {query.split("=")[0]}

    def test_body_cannot_set_owner_id_or_timestamps(self, alice: Caller, bob: Caller) -> None:
        forced = {
            "id": str(uuid.uuid4()),
            "user_id": str(bob.id),
            "created_at": "2000-01-01T00:00:00Z",
            "updated_at": "2000-01-01T00:00:00Z",
        }
        created = self.create(alice, **forced)
        assert created["id"] != forced["id"] and created["user_id"] == str(alice.id)
        assert not created["created_at"].startswith("2000")
        patched = alice.client.patch(self.detail(created), forced, format="json").json()
        assert patched["id"] == created["id"] and patched["user_id"] == str(alice.id)
        assert not patched["created_at"].startswith("2000")
        obj = self.model.objects.get(id=created["id"])
        assert obj.user_id == alice.id

    # -- ownership -----------------------------------------------------------------------

    def test_ownership_matrix(self, alice: Caller, bob: Caller) -> None:
        mine = [self.create(alice, title=f"alice {i}") for i in range(3)]
        bobs = self.create(bob, title="bob's")
        before = {o["id"]: self.model.objects.get(id=o["id"]).updated_at for o in mine}
        missing = str(uuid.uuid4())
        for target in [*[o["id"] for o in mine], missing]:
            url = self.detail(target)
            responses = [
                bob.client.get(url),
                bob.client.put(url, {**self.payload, "title": "hijacked"}, format="json"),
                bob.client.patch(url, {"title": "hijacked"}, format="json"),
                bob.client.delete(url),
            ]
            bodies = [self.assert_error(r, 404) for r in responses]
            assert all(b == {"detail": "Not found."} for b in bodies)  # exactly like a missing one
        for obj in mine:
            row = self.model.objects.get(id=obj["id"])
            assert row.title == obj["title"] and row.updated_at == before[obj["id"]]
        assert [o["id"] for o in bob.client.get(self.url).json()["results"]] == [bobs["id"]]
        assert {o["id"] for o in alice.client.get(self.url).json()["results"]} == {o["id"] for o in mine}

    def test_its_table_has_only_the_indexes_its_queries_use(self) -> None:
        """The primary key, and (user_id, created_at) for the list and the deletion of a
        user's objects: each index is one more write per insert."""
        from django.db import connection

        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, self.model._meta.db_table)
        indexes = sorted(c["columns"] for c in constraints.values() if c["index"] or c["primary_key"])
        assert indexes == [["id"], ["user_id", "created_at"]], indexes

    def test_listing_with_thousands_of_other_users_rows(self, alice: Caller) -> None:
        others = [uuid.uuid4() for _ in range(50)]
        self.model.objects.bulk_create(
            [self.model(user_id=others[i % 50], **{**self.payload, "title": f"other {i}"}) for i in range(3000)],
            batch_size=1000,
        )
        mine = {self.create(alice, title=f"mine {i}")["id"] for i in range(25)}
        seen, url = [], self.url + "?page_size=10&count=true"
        while url:
            page = alice.client.get(url).json()
            assert page["count"] == 25
            seen += [o["id"] for o in page["results"]]
            url = page["next"]
        assert len(seen) == 25 and set(seen) == mine

    # -- bad input -----------------------------------------------------------------------

    @pytest.mark.parametrize(
        "change",
        [
            {"title": None},
            {"title": ""},
            {"title": "   "},
            {"title": "x" * 101},
            {"title": ["a list"]},
            {"title": {"an": "object"}},
            {"title": True},
            {"title": 42},
        ],
        ids=["null", "empty", "blank", "too-long", "list", "object", "bool", "number"],
    )
    def test_invalid_title_is_400(self, alice: Caller, change: dict[str, Any]) -> None:
        body = self.assert_error(alice.client.post(self.url, {**self.payload, **change}, format="json"), 400)
        assert "title" in body
        obj = self.create(alice)
        for method in ("put", "patch"):
            response = getattr(alice.client, method)(self.detail(obj), {**self.payload, **change}, format="json")
            assert "title" in self.assert_error(response, 400)

    @pytest.mark.parametrize(
        "text, error",
        [("a\x00b", "Null characters are not allowed."),
         ("\ud800", "Unpaired surrogates are not allowed: the text must be valid Unicode."),
         ("ok \udfff then", "Unpaired surrogates are not allowed: the text must be valid Unicode.")],
        ids=["nul", "lone-high-surrogate", "lone-low-surrogate"],
    )  # fmt: skip
    def test_nul_and_lone_surrogates_in_any_text_are_a_400_field_error(
        self, alice: Caller, text: str, error: str
    ) -> None:
        import json

        obj = self.create(alice)
        for field in self.payload:
            raw = json.dumps({**self.payload, field: text}).encode()  # "\ud800" escaped: valid JSON
            for method, url in (("POST", self.url), ("PUT", self.detail(obj)), ("PATCH", self.detail(obj))):
                response = alice.client.generic(method, url, raw, content_type="application/json")
                assert self.assert_error(response, 400) == {field: [error]}, (method, field)
        assert self.model.objects.count() == 1

    def test_escaped_surrogate_pairs_are_text_like_any_other(self, alice: Caller) -> None:
        import json

        raw = json.dumps({**self.payload, self.text_field: "\U0001f600 ok"}).encode()  # as "\ud83d\ude00 ok"
        response = alice.client.generic("POST", self.url, raw, content_type="application/json")
        assert response.status_code == 201 and response.json()[self.text_field] == "\U0001f600 ok"

    def test_title_of_exactly_100_chars_after_trimming_is_fine(self, alice: Caller) -> None:
        assert self.create(alice, title="  " + "x" * 100 + "  ")["title"] == "x" * 100

    def test_missing_required_fields_are_400(self, alice: Caller) -> None:
        for field in self.required:
            body = {k: v for k, v in self.payload.items() if k != field}
            assert field in self.assert_error(alice.client.post(self.url, body, format="json"), 400)
            obj = self.create(alice)
            assert field in self.assert_error(alice.client.put(self.detail(obj), body, format="json"), 400)

    def test_text_over_the_limit_is_400(self, alice: Caller, settings: Any) -> None:
        settings.MAX_TEXT_BYTES = 1000
        body = self.assert_error(
            alice.client.post(self.url, {**self.payload, self.text_field: "é" * 501}, format="json"), 400
        )
        assert self.text_field in body
        assert self.create(alice, **{self.text_field: "é" * 500})

    def test_default_text_limit_is_100_kb(self, alice: Caller) -> None:
        assert self.create(alice, **{self.text_field: "x" * 102_400})
        self.assert_error(
            alice.client.post(self.url, {**self.payload, self.text_field: "x" * 102_401}, format="json"), 400
        )

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"title": ',
            b"[1, 2]",
            b'"text"',
            b"null",
            b"\xff\xfe garbage",
            b"{" * 5000,
            b"[" * 100_000,
            b'{"title": ' + b"9" * 5000 + b"}",
        ],
        ids=["truncated", "list", "string", "null", "not-utf8", "deep-objects", "deep-arrays", "huge-number"],
    )
    def test_malformed_json_is_400(self, alice: Caller, raw: bytes) -> None:
        self.assert_error(alice.client.generic("POST", self.url, raw, content_type="application/json"), 400)
        obj = self.create(alice)
        self.assert_error(alice.client.generic("PATCH", self.detail(obj), raw, content_type="application/json"), 400)

    def test_wrong_content_type_is_415(self, alice: Caller) -> None:
        self.assert_error(alice.client.generic("POST", self.url, b"title=x", content_type="text/plain"), 415)

    def test_huge_body_is_413(self, alice: Caller, settings: Any) -> None:
        huge = b'{"title": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'
        self.assert_error(alice.client.generic("POST", self.url, huge, content_type="application/json"), 413)
        assert not self.model.objects.exists()

    @pytest.mark.parametrize("bad_id", ["123", "not-a-uuid", "00000000-0000-0000-0000", "' OR 1=1 --", "%00"])
    def test_malformed_ids_are_404(self, alice: Caller, bad_id: str) -> None:
        for method in ("get", "put", "patch", "delete"):
            self.assert_error(getattr(alice.client, method)(f"{self.url}{bad_id}/"), 404)

    def test_errors_are_objects_even_from_query_validation(self, alice: Caller) -> None:
        body = self.assert_error(alice.client.get(self.url + "?search=a%00b"), 400)
        assert body == {"search": ["Null characters are not allowed."]}

    def test_missing_trailing_slash_is_404_json_not_a_redirect(self, alice: Caller) -> None:
        self.assert_error(alice.client.post(self.url.rstrip("/"), self.payload, format="json"), 404)
        assert not self.model.objects.exists()

    def test_method_not_allowed_is_405_json(self, alice: Caller) -> None:
        self.assert_error(alice.client.put(self.url, self.payload, format="json"), 405)
        self.assert_error(alice.client.delete(self.url), 405)

    # -- authentication ------------------------------------------------------------------

    def _claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"token_type": "access", "user_id": str(uuid.uuid4()), "jti": uuid.uuid4().hex, "iat": now,
                  "exp": now + 300, "iss": "user_service", "aud": "microservices"}  # fmt: skip
        return {**claims, **overrides}

    def test_bad_tokens_are_401_with_www_authenticate(self, api_client: Any, alice: Caller) -> None:
        from servicekit.tokens import RefreshToken

        obj = self.create(alice)
        refresh = RefreshToken()
        refresh["user_id"] = str(alice.id)
        tokens = {
            "anonymous": None,
            "expired": forge_token(self._claims(user_id=str(alice.id), exp=int(time.time()) - 5)),
            "refresh": str(refresh),
            "other key": forge_token(self._claims(user_id=str(alice.id)), key=WRONG_KEY),
            "wrong aud": forge_token(self._claims(user_id=str(alice.id), aud="elsewhere")),
            "wrong iss": forge_token(self._claims(user_id=str(alice.id), iss="mallory")),
            "garbage": "garbage",
        }
        for name, token in tokens.items():
            headers = bearer(token) if token else {}
            for response in (api_client.get(self.url, **headers), api_client.get(self.detail(obj), **headers)):
                self.assert_401(response, name)
        assert self.model.objects.filter(id=obj["id"]).exists()

    @pytest.mark.parametrize("changes", [c for _, c in MALFORMED_CLAIMS], ids=[i for i, _ in MALFORMED_CLAIMS])
    def test_malformed_claims_in_a_correctly_signed_token_are_401(
        self, api_client: Any, alice: Caller, changes: dict[str, Any]
    ) -> None:
        obj = self.create(alice)
        headers = bearer(forge_token(with_claims(self._claims(user_id=str(alice.id)), changes)))
        self.assert_401(api_client.get(self.url, **headers))
        self.assert_401(api_client.patch(self.detail(obj), {"title": "changed"}, format="json", **headers))
        assert self.model.objects.get(id=obj["id"]).title == obj["title"]

    def test_answers_to_requests_with_a_token_are_never_stored(self, api_client: Any, alice: Caller) -> None:
        obj = self.create(alice)
        answers = [
            alice.client.get(self.url),
            alice.client.get(self.detail(obj)),
            alice.client.post(self.url, {"title": ""}, format="json"),  # 400
            alice.client.get(self.detail(uuid.uuid4())),  # 404
            alice.client.generic("POST", self.url, b"x" * 3_000_000, content_type="application/json"),  # 413
            api_client.get(self.url, **bearer("garbage")),  # 401
        ]
        for response in answers:
            assert response["Cache-Control"] == "no-store", (response.status_code, response.get("Cache-Control"))
        assert not api_client.get("/healthz").has_header("Cache-Control")  # nothing private there

    # -- operations ----------------------------------------------------------------------

    def test_health_schema_docs(self, api_client: Any) -> None:
        assert api_client.get("/healthz").json()["status"] == "ok"
        assert api_client.get("/readyz").status_code == 200
        spec = api_client.get("/api/schema/?format=json").json()
        assert self.url in spec["paths"] and f"{self.url}{{id}}/" in spec["paths"]
        assert spec["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
        assert {"201", "400", "401", "413", "415"} <= set(spec["paths"][self.url]["post"]["responses"])
        assert {"200", "401", "404"} <= set(spec["paths"][f"{self.url}{{id}}/"]["get"]["responses"])
        assert api_client.get("/api/docs/").status_code == 200
        assert_openapi_schema_valid()

    def test_admin_is_off_unless_enabled(self, client: Any) -> None:
        """Only user_service serves it by default (ADMIN_ENABLED)."""
        self.assert_error(client.get("/admin/"), 404)
        self.assert_error(client.get("/admin/login/"), 404)

    @pytest.mark.usefixtures("admin_enabled")
    def test_admin_is_for_staff_and_shows_user_ids(self, client: Any, alice: Caller, django_user_model: Any) -> None:
        obj = self.create(alice)
        admin_url = f"/admin/{self.model._meta.app_label}/{self.model._meta.model_name}/"
        assert client.get(admin_url).status_code == 302  # to the login page
        client.force_login(django_user_model.objects.create_user("visitor", password="x"))
        assert client.get(admin_url).status_code == 302
        client.force_login(django_user_model.objects.create_superuser("root", password="x"))
        listing = client.get(admin_url)
        assert listing.status_code == 200 and str(alice.id).encode() in listing.content
        assert client.get(f"{admin_url}{obj['id']}/change/").status_code == 200


@pytest.mark.django_db
class OwnedResourceEventsContract(ResourceApi):
    """Events of a per-user resource service: what its writes emit, as its contract
    declares, and its reaction to ``user.deleted``. (The relay and the consumer loop
    themselves are tested once, in servicekit's own suite.)"""

    topic: ClassVar[str]
    #: "post" / "note": the event type prefix.
    name: ClassVar[str]

    def written(self) -> list[Any]:
        """Every event this service wrote to its outbox, published or not, in order."""
        from servicekit.outbox.models import OutboxEvent, PublishedEvent

        rows = [*OutboxEvent.objects.values_list("id", "event_id", "event_type", "key"),
                *PublishedEvent.objects.values_list("id", "event_id", "event_type", "key")]  # fmt: skip
        return sorted(rows)

    def test_each_write_emits_its_event_as_the_contract_declares(self, alice: Caller, kafka: Any) -> None:
        from servicekit.testkit.events import assert_matches_contract, declared_type
        from servicekit.testkit.kafka import events_on, relay_pending

        obj = self.create(alice)
        changed = alice.client.patch(f"{self.url}{obj['id']}/", {"title": "Changed"}, format="json").json()
        alice.client.delete(f"{self.url}{obj['id']}/")
        relay_pending()
        messages = sorted(events_on(self.topic, {str(row[1]) for row in self.written()}), key=lambda m: m.offset)
        assert [m.envelope["type"] for m in messages] == [f"{self.name}.{a}" for a in ("created", "updated", "deleted")]
        for message in messages:
            env = message.envelope
            assert_matches_contract(env, key=message.key, topic=message.topic)
            assert message.key == obj["id"] and env["subject"] == obj["id"] and env["userid"] == str(alice.id)
            assert env["source"] == settings_service_name()
            assert message.headers["content-type"] == b"application/cloudevents+json"
        created, updated, deleted = (m.envelope["data"] for m in messages)
        fields = declared_type(f"{self.name}.created").data["properties"]
        assert created == {k: obj[k] for k in fields}  # as the API showed it: ids and times
        assert updated == {k: changed[k] for k in fields} and deleted == {"id": obj["id"]}
        # What the owner wrote stays here: no event carries it (data minimisation).
        for text in [*self.payload.values(), "Changed"]:
            assert not any(text.encode() in m.value for m in messages), text

    def test_concurrent_writes_to_one_object_leave_events_that_match_the_database(
        self, alice: Caller, transactional_db: Any
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from django.db import connection
        from rest_framework.test import APIClient

        from servicekit.outbox.models import OutboxEvent

        obj = self.create(alice)
        url = f"{self.url}{obj['id']}/"
        other = next(k for k in self.payload if k != "title")

        def call(method: str, body: dict[str, str] | None = None) -> int:
            client = APIClient()
            client.credentials(**alice.client._credentials)
            try:
                return getattr(client, method)(url, body, format="json").status_code
            finally:
                connection.close()  # this thread's own connection

        with ThreadPoolExecutor(8) as pool:
            changes = [{"title": f"title {i}"} if i % 2 else {other: f"{other} {i}"} for i in range(16)]
            assert set(pool.map(lambda change: call("patch", change), changes)) == {200}
        row = self.model.objects.get(id=obj["id"])
        last = OutboxEvent.objects.filter(key=obj["id"]).order_by("id").last()
        assert last.payload["data"]["updated_at"] == row.updated_at.isoformat().replace("+00:00", "Z")

        with ThreadPoolExecutor(4) as pool:
            assert sorted(pool.map(lambda _: call("delete"), range(4))) == [204, 404, 404, 404]
        assert OutboxEvent.objects.filter(key=obj["id"], event_type=f"{self.name}.deleted").count() == 1

    def test_republish_writes_a_snapshot_of_each_current_object_resumably(self, alice: Caller, bob: Caller) -> None:
        from io import StringIO

        from django.core.management import CommandError, call_command

        from servicekit.outbox.models import OutboxEvent
        from servicekit.testkit.events import assert_matches_contract

        def republish(*args: str) -> list[str]:
            out = StringIO()
            call_command("republish", *args, stdout=out)
            return out.getvalue().splitlines()

        def snapshots() -> dict[str, dict[str, Any]]:
            rows = OutboxEvent.objects.filter(event_type=f"{self.name}.snapshot").order_by("id")
            return {row.key: row.payload for row in rows}

        kept = [self.create(alice, title=f"alice {i}") for i in range(3)]
        gone = self.create(alice, title="deleted")
        alice.client.delete(self.detail(gone))
        bobs = self.create(bob)
        changed = alice.client.patch(self.detail(kept[0]), {"title": "changed"}, format="json").json()

        assert republish("--user", str(alice.id), "--dry-run")[-1].startswith("would republish 3 ")
        lines = republish("--user", str(alice.id), "--batch-size", "2")
        assert [line.split(":")[0] for line in lines[:2]] == ["batch 1", "batch 2"] and len(lines) == 3
        assert lines[-1].startswith("republished 3 ") and f" as {self.name}.snapshot " in lines[-1]
        written = snapshots()
        assert set(written) == {obj["id"] for obj in kept}  # the deleted one is not there, nor bob's
        for key, envelope in written.items():
            assert_matches_contract(envelope, key=key)
            assert envelope["userid"] == str(alice.id)
        data = written[changed["id"]]["data"]
        assert "updated_at" in data and data == {k: changed[k] for k in data}  # the object as it is now
        # Each one after the object's earlier events: it takes its place in the object's order.
        last_before = OutboxEvent.objects.filter(key=changed["id"]).exclude(event_type=f"{self.name}.snapshot")
        snapshot_row = OutboxEvent.objects.get(key=changed["id"], event_type=f"{self.name}.snapshot")
        assert snapshot_row.id > max(last_before.values_list("id", flat=True))

        OutboxEvent.objects.filter(event_type=f"{self.name}.snapshot").delete()
        resume_after = lines[0].rsplit("--after ", 1)[1].rstrip(")")
        republish("--after", resume_after)  # resumed: what sorts after the first batch, anyone's
        assert set(snapshots()) == {k for k in {*(o["id"] for o in kept), bobs["id"]} if k > resume_after}
        with pytest.raises(CommandError, match="is not an id of"):
            call_command("republish", "--after", "not-an-id")

    def test_failed_writes_emit_nothing(self, alice: Caller) -> None:
        alice.client.post(self.url, {"title": ""}, format="json")
        alice.client.patch(f"{self.url}{uuid.uuid4()}/", {"title": "x"}, format="json")
        assert not self.written()

    def test_deleted_users_content_is_removed_in_one_batch_and_their_writes_refused(
        self, alice: Caller, bob: Caller, kafka: Any
    ) -> None:
        from servicekit.consumer import EventConsumer
        from servicekit.inbox.models import ProcessedEvent
        from servicekit.kafka import event_handlers
        from servicekit.testkit.kafka import make_event, produce_raw

        carol = Caller(type(alice.client))
        mine = [self.create(alice, title=f"alice {i}")["id"] for i in range(3)]
        carols = [self.create(carol, title=f"carol {i}")["id"] for i in range(2)]
        bobs = self.create(bob)["id"]
        deletions = [make_event("user.deleted", user_id=user.id) for user in (alice, carol)]
        registered = make_event("user.registered")
        produce_raw("user_events", [(e.key, e.to_json()) for e in [*deletions, registered, deletions[0]]])
        handlers = event_handlers()
        consumer = EventConsumer(handlers, group=f"{handlers.group}-{uuid.uuid4().hex[:8]}")
        consumer.run(lambda: ProcessedEvent.objects.filter(event_id__in=[e.id for e in deletions]).count() == 2)

        assert not self.model.objects.filter(id__in=mine + carols).exists()
        assert self.model.objects.filter(id=bobs).exists()
        deletes = [row for row in self.written() if row[2] == f"{self.name}.deleted"]
        assert sorted(row[3] for row in deletes) == sorted(mine + carols)  # one each, the repeat changed nothing
        # The deleted users' access tokens are unexpired, but revoked: reads and writes are refused.
        for caller in (alice, carol):
            for refused in (caller.client.post(self.url, self.payload, format="json"), caller.client.get(self.url)):
                assert refused.status_code == 401 and refused.json() == {"detail": "Token has been revoked."}, (
                    refused.content
                )
        assert self.create(bob)


def settings_service_name() -> str:
    from django.conf import settings

    return settings.SERVICE_NAME
