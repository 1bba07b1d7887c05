"""servicekit.db.together: statements that return nothing travel with the next one."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from servicekit.db import execute, insert_rows, present, together
from servicekit.inbox.models import DeletedUser

pytestmark = pytest.mark.django_db

COLUMNS = ("user_id", "deleted_at")


def add(user: uuid.UUID) -> None:
    insert_rows(DeletedUser, COLUMNS, [(user, timezone.now())])


def stored(*users: uuid.UUID) -> set[uuid.UUID]:
    return set(DeletedUser.objects.filter(user_id__in=users).values_list("user_id", flat=True))


class Sent(list):
    """The statements that reach the database (an execute wrapper inside the block)."""

    def __call__(self, run, sql, params, many, context):
        self.append(sql)
        return run(sql, params, many, context)


def test_they_wait_for_the_next_statement_and_go_in_order_with_the_orm_and_at_the_end():
    a, b, c, nobody = (uuid.uuid4() for _ in range(4))
    sent = Sent()
    with together(), connection.execute_wrapper(sent):
        add(a)
        execute("SELECT pg_advisory_xact_lock_shared(%s)", [7], returns_rows=False)
        assert sent == []
        # One round trip carries both, and the lookup sees the insert before it.
        assert present(DeletedUser, "user_id", [a, nobody]) == [a]
        assert len(sent) == 1 and sent[0].count(";") == 2
        add(b)
        assert stored(b) == {b}  # an ORM query sends what waits first
        assert len(sent) == 3
        add(c)
    assert stored(c) == {c}  # the block's end sends the rest


def test_an_error_of_a_waiting_statement_is_raised_where_it_is_sent():
    user = uuid.uuid4()
    add(user)
    reached = []

    def block():
        with transaction.atomic(), together():
            add(user)  # the same primary key: refused at the block's end, not here
            reached.append(True)

    with pytest.raises(IntegrityError):
        block()
    assert reached == [True]


def test_a_block_that_raises_sends_nothing_more():
    user = uuid.uuid4()

    def block():
        with together():
            add(user)
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        block()
    assert stored(user) == set()


def test_outside_a_block_every_statement_goes_at_once():
    user = uuid.uuid4()
    add(user)
    assert stored(user) == {user}
