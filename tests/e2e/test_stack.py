"""Black-box tests of the running stack, over HTTP (and the processes' logs) only."""

import base64
import json
import time
import uuid

import jwt
import requests

from tests.e2e.conftest import PASSWORD, eventually
from tests.e2e.stack import JWT_KEY


def test_account_session_signup_login_refresh_logout(stack, new_user):
    user = new_user()
    base = stack.url("user")

    def login() -> dict:
        response = requests.post(f"{base}/api/users/login/", json={"email": user.email, "password": PASSWORD},
                                 timeout=10)  # fmt: skip
        assert response.status_code == 200
        return response.json()

    tokens = login()
    me = requests.get(f"{base}/api/users/me/", headers={"Authorization": f"Bearer {tokens['access']}"}, timeout=10)
    assert me.json()["email"] == user.email
    refreshed = requests.post(f"{base}/api/users/token/refresh/", json={"refresh": tokens["refresh"]}, timeout=10)
    assert refreshed.status_code == 200
    # The rotated token again: refused, and its whole session with it (reuse detection).
    replay = requests.post(f"{base}/api/users/token/refresh/", json={"refresh": tokens["refresh"]}, timeout=10)
    assert replay.status_code == 401
    descendant = requests.post(f"{base}/api/users/token/refresh/", json={"refresh": refreshed.json()["refresh"]},
                               timeout=10)  # fmt: skip
    assert descendant.status_code == 401
    new = login()
    logout = requests.post(f"{base}/api/users/logout/", json={"refresh": new["refresh"]},
                           headers={"Authorization": f"Bearer {new['access']}"}, timeout=10)  # fmt: skip
    assert logout.status_code == 200
    assert (
        requests.post(f"{base}/api/users/token/refresh/", json={"refresh": new["refresh"]}, timeout=10).status_code
        == 401
    )


def test_user_service_tokens_are_accepted_by_the_other_services_and_forgeries_are_not(stack, new_user):
    user = new_user()
    for service, path in [("post", "/api/posts/"), ("note", "/api/notes/"), ("consumer", "/api/activity/me/")]:
        assert user.call("GET", service, path).status_code == 200, service
    claims = jwt.decode(user.access, options={"verify_signature": False})
    wrong_aud = jwt.encode({**claims, "aud": "somewhere-else"}, JWT_KEY, algorithm="HS256")
    wrong_key = jwt.encode(claims, "another-key-of-the-same-decent-length!!", algorithm="HS256")
    header, _payload, signature = user.access.split(".")
    tampered_claims = {**claims, "user_id": str(uuid.uuid4())}
    tampered = ".".join(
        [header, base64.urlsafe_b64encode(json.dumps(tampered_claims).encode()).rstrip(b"=").decode(), signature]
    )
    for token in (wrong_aud, wrong_key, tampered, user.refresh):
        for service, path in [("post", "/api/posts/"), ("note", "/api/notes/")]:
            response = requests.get(
                f"{stack.url(service)}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert response.status_code == 401, (service, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_crud_on_posts_and_notes_and_isolation_between_users(new_user):
    alice, bob = new_user(), new_user()
    post = alice.call("POST", "post", "/api/posts/", json={"title": "Hello", "description": "world"}).json()
    note = alice.call("POST", "note", "/api/notes/", json={"title": "Todo", "content": "milk"}).json()
    assert (
        alice.call("PATCH", "post", f"/api/posts/{post['id']}/", json={"title": "Hello again"}).json()["title"]
        == "Hello again"
    )
    assert (
        alice.call("PUT", "note", f"/api/notes/{note['id']}/", json={"title": "Todo", "content": "eggs"}).json()[
            "content"
        ]
        == "eggs"
    )
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        assert bob.call(method, "post", f"/api/posts/{post['id']}/", json={"title": "x"}).status_code == 404
        assert (
            bob.call(method, "note", f"/api/notes/{note['id']}/", json={"title": "x", "content": "y"}).status_code
            == 404
        )
    assert bob.call("GET", "post", "/api/posts/?count=true").json()["count"] == 0
    assert alice.call("GET", "post", "/api/posts/?count=true").json()["count"] == 1
    assert alice.call("DELETE", "note", f"/api/notes/{note['id']}/").status_code == 204
    assert alice.call("GET", "note", f"/api/notes/{note['id']}/").status_code == 404


def test_every_write_reaches_consumer_service_and_its_log(stack, new_user):
    user = new_user()
    post = user.call("POST", "post", "/api/posts/", json={"title": "p"}).json()
    user.call("PATCH", "post", f"/api/posts/{post['id']}/", json={"title": "p2"})
    note = user.call("POST", "note", "/api/notes/", json={"title": "n", "content": "c"}).json()
    user.call("DELETE", "post", f"/api/posts/{post['id']}/")

    expected = ["user.registered", "post.created", "post.updated", "note.created", "post.deleted"]

    def all_recorded():
        events = user.call("GET", "consumer", "/api/events/?page_size=100").json()["results"]
        assert sorted(e["type"] for e in events) == sorted(expected)
        return events

    events = eventually(all_recorded)
    assert {e["subject"] for e in events if e["type"].startswith("note.")} == {note["id"]}
    activity = user.call("GET", "consumer", "/api/activity/me/").json()
    assert (activity["posts"], activity["notes"], activity["events_seen"]) == (0, 1, 5)
    log = stack.log("worker-consumer")
    assert f"note.created user={user.id} subject={note['id']} note_events[" in log
    assert f"post.deleted user={user.id} subject={post['id']} post_events[" in log


def test_deleting_an_account_deletes_its_posts_and_notes_everywhere_and_revokes_its_tokens(new_user):
    doomed, other = new_user(), new_user()
    for i in range(3):
        doomed.call("POST", "post", "/api/posts/", json={"title": f"p{i}"})
        doomed.call("POST", "note", "/api/notes/", json={"title": f"n{i}", "content": "c"})
    kept = other.call("POST", "post", "/api/posts/", json={"title": "kept"}).json()
    assert doomed.call("DELETE", "user", "/api/users/me/").status_code == 204

    def tokens_refused():
        for service, path in [("post", "/api/posts/"), ("note", "/api/notes/"), ("consumer", "/api/activity/me/")]:
            assert doomed.call("GET", service, path).status_code == 401, service

    eventually(tokens_refused, timeout=5)
    # What is left of the user, seen with a token issued after the deletion (user_service
    # would never issue one; the test holds the key): nothing.
    claims = jwt.decode(doomed.access, options={"verify_signature": False})
    doomed.access = jwt.encode({**claims, "iat": time.time(), "jti": uuid.uuid4().hex}, JWT_KEY, algorithm="HS256")

    def content_gone():
        for service, path in [("post", "/api/posts/"), ("note", "/api/notes/")]:
            assert doomed.call("GET", service, path).json()["results"] == [], service
        activity = doomed.call("GET", "consumer", "/api/activity/me/").json()
        assert activity["account_deleted"] and activity["posts"] == 0 and activity["notes"] == 0

    eventually(content_gone)
    assert other.call("GET", "post", f"/api/posts/{kept['id']}/").status_code == 200


def test_broker_outage_loses_nothing(stack, new_user):
    user = new_user()
    stack.broker.stop()
    try:
        created = [
            user.call("POST", "note", "/api/notes/", json={"title": f"offline {i}", "content": "x"}) for i in range(10)
        ]
        assert all(r.status_code == 201 for r in created)  # writes never wait on Kafka
    finally:
        stack.broker.start()

    def all_arrived():
        events = user.call("GET", "consumer", "/api/events/?type=note.created&page_size=100&count=true").json()
        assert events["count"] == 10

    eventually(all_arrived, timeout=90, interval=0.5)
    assert user.call("GET", "consumer", "/api/activity/me/").json()["notes"] == 10


def test_make_run_launcher_stops_cleanly_on_sigterm_with_no_orphans(tmp_path):
    """``python -m servicekit.devstack run`` (what ``make run`` runs) on free ports and fresh
    PostgreSQL databases: it comes up, and SIGTERM leaves no process of it behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from servicekit.devstack.launcher import SERVICES, wait_ready
    from tests.e2e.stack import drop_database, free_port, new_prefix, stack_environment

    prefix = new_prefix()
    env = stack_environment(prefix, kafka_bootstrap="")
    env.pop("KAFKA_BOOTSTRAP_SERVERS")
    env["KAFKA_PORT"] = str(free_port())
    marker = f"e2e-marker-{prefix}"
    env["E2E_STACK_MARKER"] = marker
    log = (tmp_path / "run.log").open("wb")
    launcher = subprocess.Popen([sys.executable, "-m", "servicekit.devstack", "run"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        wait_ready(env, timeout=120)
        # The launcher, the broker, the gateway, each service's gunicorn master and its worker,
        # and the workers process of each service that has a relay or a consumer.
        workers = sum(1 for spec in SERVICES if spec.relay or spec.consumer)
        assert len(marked_processes(marker)) >= 3 + 2 * len(SERVICES) + workers
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(60) == 0
        deadline = time.monotonic() + 10
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marked_processes(marker) == []
        output = (tmp_path / "run.log").read_text()
        assert "Stack ready" in output and "SIGTERM received" in output
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        for spec in SERVICES:
            drop_database(f"{prefix}_{spec.directory}")


def marked_processes(marker: str) -> list[int]:
    """Pids whose environment carries ``marker`` (every process the launcher started)."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found
