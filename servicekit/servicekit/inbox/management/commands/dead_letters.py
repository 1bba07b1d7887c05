"""``manage.py dead_letters``: list, show, replay or skip this service's dead letters."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from django.core.management.base import CommandError, CommandParser

from servicekit.kafka import event_handlers
from servicekit.management.base import HeadlessCommand
from servicekit.ops import deadletters
from servicekit.ops.deadletters import DeadLetter, DeadLetters
from servicekit.ops.lines import age
from servicekit.topics import TopicError

_LETTER = re.compile(r"^(\d+):(\d+)(?:-(\d+))?$")


def letter_arg(text: str) -> tuple[int, int, int]:
    """``P:OFFSET`` or ``P:FIRST-LAST`` (both included): partition and offset range."""
    match = _LETTER.match(text)
    if not match or (match[3] and int(match[3]) < int(match[2])):
        raise argparse.ArgumentTypeError(
            f"not a letter: {text!r} (PARTITION:OFFSET or PARTITION:FIRST-LAST, e.g. 0:12)"
        )
    return int(match[1]), int(match[2]), int(match[3] or match[2])


class Command(HeadlessCommand):
    help = (
        "This service's dead letters (<group>.dlq): list them, show one, replay them to their origin topic "
        "(at least once: consumers skip events they applied already), or skip them. What was replayed is recorded "
        "on the dead-letter topic, so a second replay does not send it again. Letters are named PARTITION:OFFSET. "
        "Examples: `manage.py dead_letters list`, `manage.py dead_letters show 0:12`, "
        "`manage.py dead_letters replay --dry-run`, `manage.py dead_letters replay 0:12 1:3-9`, "
        "`manage.py dead_letters replay --type post.created`, "
        "`manage.py dead_letters skip 2:4 --reason 'not an event; producer bug #42'`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="the pending letters (--all: every letter), with a count")
        listing.add_argument("--all", action="store_true", help="the replayed and skipped letters too")
        listing.add_argument("--json", action="store_true", help="one JSON object per letter")
        show = actions.add_parser("show", help="one letter in full: headers and value")
        show.add_argument("letter", type=letter_arg)
        show.add_argument("--json", action="store_true")
        replay = actions.add_parser(
            "replay", help="produce letters to their origin topic again (default: every pending one)"
        )
        skip = actions.add_parser("skip", help="record letters as settled without replaying them")
        for sub in (replay, skip):
            sub.add_argument("named", nargs="*", type=letter_arg, metavar="LETTER",
                             help="PARTITION:OFFSET or PARTITION:FIRST-LAST")  # fmt: skip
            sub.add_argument(
                "--event-id", action="append", default=[], help="the letter carrying this event (repeatable)"
            )
            sub.add_argument("--type", action="append", default=[], help="only letters of this event type (repeatable)")
            sub.add_argument("--origin-topic", help="only letters from this topic")
            sub.add_argument("--again", action="store_true", help="also letters already replayed or skipped")
            sub.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
        skip.add_argument("--reason", required=True, help="why (recorded with the letter)")
        for sub in (replay, skip):
            sub.add_argument("--json", action="store_true", help="one JSON object per letter")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        handlers = event_handlers()
        if handlers is None:
            raise CommandError(
                "this service consumes nothing (settings.EVENTS has no HANDLERS), so it has no dead letters"
            )
        try:
            getattr(self, f"_{action}")(handlers.group, **options)
        except TopicError as exc:
            raise CommandError(str(exc)) from None

    # -- actions ---------------------------------------------------------------------------------

    def _list(self, group: str, **options: Any) -> None:
        letters = deadletters.load(group, everything=True)
        for letter in letters.letters if options["all"] else letters.pending:
            self._write_letter(letter, as_json=options["json"])
        if not options["json"]:
            counts = {
                state: sum(1 for x in letters.letters if x.state == state)
                for state in ("pending", "replayed", "skipped")
            }
            self.stdout.write(f"{letters.topic}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))

    def _show(self, group: str, *, letter: tuple[int, int, int], **options: Any) -> None:
        partition, offset, _ = letter
        [found] = deadletters.load(group, everything=True).find([f"{partition}:{offset}"])
        message = found.message
        if options["json"]:
            doc = {**found.to_dict(), "key": message.key,
                   "headers": {n: v.decode(errors="replace") for n, v in message.header_list},
                   "value": (message.value or b"").decode(errors="replace")}  # fmt: skip
            self.stdout.write(_json(doc))
            return
        for name, value in found.to_dict().items():
            if value is not None:
                self.stdout.write(f"{name}: {value}")
        self.stdout.write(f"key: {message.key}")
        for name, value in message.header_list:
            self.stdout.write(f"header {name}: {value.decode(errors='replace')}")
        try:
            value = json.dumps(json.loads(message.value or b""), indent=2, ensure_ascii=False)
        except ValueError:
            value = (message.value or b"").decode(errors="replace") or "(empty)"
        self.stdout.write(f"value:\n{value}")

    def _replay(self, group: str, **options: Any) -> None:
        letters = deadletters.load(group, everything=bool(options["again"] or options["named"] or options["event_id"]))
        chosen = self._choose(letters, **options)
        if options["dry_run"]:
            for letter in chosen:
                why = letter.unreplayable()
                line = f"would replay {self._describe(letter)}" if why is None else f"cannot replay {letter.id}: {why}"
                self._write(line, {**letter.to_dict(), "would_replay": why is None, "error": why}, options["json"])
            return
        outcomes = deadletters.replay(letters, chosen)
        for outcome in outcomes:
            if outcome.error is None:
                self._write(f"replayed {self._describe(outcome.letter)} -> {outcome.to}",
                            {**outcome.letter.to_dict(), "replayed_to": outcome.to}, options["json"])  # fmt: skip
            else:
                self._write(f"not replayed {outcome.letter.id}: {outcome.error}",
                            {**outcome.letter.to_dict(), "error": outcome.error}, options["json"])  # fmt: skip
        failed = [o for o in outcomes if o.error is not None]
        summary = (f"{len(outcomes) - len(failed)} replayed, {len(failed)} not; "
                   f"{len(letters.pending)} pending on {letters.topic}")  # fmt: skip
        if failed:
            raise CommandError(
                summary + " (skip a letter that can never be replayed: dead_letters skip LETTER --reason ...)"
            )
        if not options["json"]:
            self.stdout.write(summary)

    def _skip(self, group: str, *, reason: str, **options: Any) -> None:
        letters = deadletters.load(group, everything=True)
        chosen = self._choose(letters, **options)
        if not options["dry_run"]:
            deadletters.skip(letters, chosen, reason=reason)
        verb = "would skip" if options["dry_run"] else "skipped"
        for letter in chosen:
            self._write(f"{verb} {self._describe(letter)}", letter.to_dict(), options["json"])

    # -- helpers ---------------------------------------------------------------------------------

    def _choose(self, letters: DeadLetters, **options: Any) -> list[DeadLetter]:
        """The letters named (or every one), narrowed by the filters; settled ones only with --again."""
        named = options["named"]
        chosen = letters.letters
        if named:
            ids = {f"{p}:{o}" for p, first, last in named for o in range(first, last + 1)}
            singles = [f"{p}:{first}" for p, first, last in named if first == last]
            letters.find(singles)  # a letter named alone must exist; a range takes what it holds
            chosen = [letter for letter in chosen if letter.id in ids]
        if options["event_id"]:
            wanted = set(options["event_id"])
            chosen = [letter for letter in chosen if letter.event and letter.event.id in wanted]
            found = {letter.event.id for letter in chosen if letter.event}
            if wanted - found:
                raise CommandError(f"no dead letter carries event {sorted(wanted - found)[0]} on {letters.topic}")
        if options["type"]:
            chosen = [letter for letter in chosen if letter.event and letter.event.type in options["type"]]
        if options["origin_topic"]:
            chosen = [letter for letter in chosen if letter.origin_topic == options["origin_topic"]]
        settled = [letter for letter in chosen if letter.state != "pending"]
        if settled and not options["again"]:
            if named or options["event_id"]:
                raise CommandError(f"letter {settled[0].id} was {settled[0].state} already (--again to do it anyway)")
            chosen = [letter for letter in chosen if letter.state == "pending"]
        return chosen

    @staticmethod
    def _describe(letter: DeadLetter) -> str:
        event = letter.event
        what = f"{event.type} event={event.id}" if event else "(not an event)"
        return f"{letter.id} from {letter.origin} {what}"

    def _write_letter(self, letter: DeadLetter, *, as_json: bool) -> None:
        event = letter.event
        what = f"{event.type} event={event.id}" if event else "(not an event)"
        line = (f"{letter.id} {letter.state} age={age(letter.message.time)} from={letter.origin} {what} "
                f"error={_json(letter.error[:160])}")  # fmt: skip
        self._write(line, letter.to_dict(), as_json)

    def _write(self, line: str, doc: dict[str, Any], as_json: bool) -> None:
        self.stdout.write(_json(doc) if as_json else line)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
