"""A scripted session against a running stack (`make run` or `make up`): `make demo`.

Signs up two users, has one of them create, update and delete posts and notes, shows
that the other cannot see any of it, then shows what consumer_service recorded.
Everything goes through the gateway: API_URL (default http://127.0.0.1:8000).
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import requests

API = os.environ.get("API_URL", "http://127.0.0.1:8000")
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - a demo account


def step(text: str) -> None:
    print(f"\n== {text}")


def call(method: str, service: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.request(method, API + path, headers=headers, timeout=10, **kwargs)
    print(f"   {method:6} {service:8} {path:40} -> {response.status_code}")
    return response


def account(name: str) -> tuple[str, str]:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    call("POST", "user", "/api/users/signup/", json={"email": email, "password": PASSWORD}).raise_for_status()
    tokens = call("POST", "user", "/api/users/login/", json={"email": email, "password": PASSWORD}).json()
    me = call("GET", "user", "/api/users/me/", tokens["access"]).json()
    print(f"   {name}: {me['email']} id={me['id']}")
    return me["id"], tokens["access"]


def main() -> int:
    try:
        requests.get(f"{API}/healthz", timeout=3).raise_for_status()
    except requests.RequestException as exc:
        print(f"The stack is not running ({exc}). Start it with `make run` (or `make up`) first.", file=sys.stderr)
        return 1

    step("Two users sign up and log in")
    alice_id, alice = account("alice")
    _bob_id, bob = account("bob")

    step("Alice writes posts and notes")
    first = call("POST", "post", "/api/posts/", alice, json={"title": "Hello", "description": "My first post"}).json()
    call("POST", "post", "/api/posts/", alice, json={"title": "Second post"})
    call("PATCH", "post", f"/api/posts/{first['id']}/", alice, json={"title": "Hello, world"})
    note = call("POST", "note", "/api/notes/", alice, json={"title": "Groceries", "content": "milk, eggs"}).json()
    call("POST", "note", "/api/notes/", alice, json={"title": "Ideas", "content": "a microservice demo"})
    call("DELETE", "note", f"/api/notes/{note['id']}/", alice)

    step("Bob cannot see or touch Alice's things (404, exactly like missing ones)")
    call("GET", "post", f"/api/posts/{first['id']}/", bob)
    call("DELETE", "post", f"/api/posts/{first['id']}/", bob)
    print(f"   Bob's posts: {call('GET', 'post', '/api/posts/?count=true', bob).json()['count']}")

    step("consumer_service recorded every event (through Kafka)")
    deadline = time.monotonic() + 15
    while True:
        events = call("GET", "consumer", "/api/events/?page_size=50&count=true", alice).json()
        if events["count"] >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for event in reversed(events["results"]):
        where = f"{event['topic']}[{event['partition']}]@{event['offset']}"
        print(f"   {event['time']}  {event['type']:16} subject={event['subject']}  {where}")
    activity = call("GET", "consumer", "/api/activity/me/", alice).json()
    print(f"   activity of {alice_id}: posts={activity['posts']} notes={activity['notes']} "
          f"events={activity['events_seen']} last={activity['last_event_type']}")  # fmt: skip
    print("\nTail the consumer's log lines with `make logs-consumer`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
