"""`careaccess audit <sub>`: verify the ledger, make checkpoints, hand out and check proofs.

Exit codes: 0 ok; 1 verification failed (tampered ledger, forged or foreign signature, a
checkpoint older than the one held, an altered key list); 2 bad input (unknown entry or
checkpoint, malformed file).

    careaccess audit verify [--no-nodes] [--json] [--workers N] [--public-key PEM_OR_KEY_LIST]
    careaccess audit checkpoint
    careaccess audit prove ENTRY [--checkpoint ID]
    careaccess audit consistency OLD [NEW] [--by-size]
    careaccess audit public-key [--pem]
    careaccess audit rotate-key
    careaccess audit check-proof FILE [--trusted CHECKPOINT_JSON] [--public-key PEM_OR_KEY_LIST]
    careaccess audit check-consistency FILE --trusted CHECKPOINT_JSON [--public-key PEM_OR_KEY_LIST]
    careaccess audit check-keys FILE --trusted PEM_OR_KEY_LIST

check-proof, check-consistency and check-keys touch no database: an outside auditor runs them on files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError, InvalidInput, NotFound

OK, FAILED, BAD_INPUT = 0, 1, 2
ACTOR = Actor.system("cli")
PROGRESS_FROM = 200_000  # entries; below this verify is over before a bar would help


def _dump(doc) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False)


class Command(BaseCommand):
    help = "The tamper-evident audit ledger: verify, checkpoint, prove, check proofs offline."
    # The ledger's checks must run whatever state the rest of the project is in (and offline).
    requires_system_checks = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="sub", metavar="SUBCOMMAND", required=True)

        p = sub.add_parser("verify", help="check the whole ledger; exit 1 naming the first bad entry")
        p.add_argument("--no-nodes", action="store_true", help="skip comparing the stored Merkle nodes")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--batch", type=int, default=20_000, help="entries per query")
        p.add_argument("--workers", type=int, default=None,
                       help="processes checking ranges of the ledger side by side (default: one per core)")
        p.add_argument("--public-key", dest="public_key",
                       help="check checkpoint signatures with this PEM public key or key list (`public-key`)")

        sub.add_parser("checkpoint", help="sign the current tree size and root now; print the checkpoint JSON")

        p = sub.add_parser("prove", help="inclusion proof of one entry against a checkpoint (JSON)")
        p.add_argument("entry", help="the entry's index")
        p.add_argument("--checkpoint", dest="checkpoint_id", help="checkpoint id (default: the latest)")

        p = sub.add_parser("consistency", help="consistency proof between two checkpoints (JSON)")
        p.add_argument("old", help="the older checkpoint's id (or tree size with --by-size)")
        p.add_argument("new", nargs="?", help="the newer checkpoint's id (default: the latest)")
        p.add_argument("--by-size", action="store_true", help="OLD and NEW are tree sizes, not ids")

        p = sub.add_parser("public-key", help="print the ledger's public keys, with when each signed (JSON key list)")
        p.add_argument("--pem", action="store_true", help="print only the current key, as PEM")

        sub.add_parser("rotate-key", help="a new key signs checkpoints from now on (audited); print the new "
                                          "checkpoint it signed")

        p = sub.add_parser("check-proof", help="verify an inclusion proof file offline")
        p.add_argument("file", help="the JSON printed by `audit prove` (- for stdin)")
        p.add_argument("--trusted", help="the checkpoint JSON you hold (pins the key, refuses older checkpoints)")
        p.add_argument("--public-key", dest="public_key", help="the ledger public key PEM or key list you hold")

        p = sub.add_parser("check-consistency", help="verify a consistency proof file offline")
        p.add_argument("file", help="the JSON printed by `audit consistency` (- for stdin)")
        p.add_argument("--trusted", required=True, help="the checkpoint JSON you hold")
        p.add_argument("--public-key", dest="public_key", help="the ledger public key PEM or key list you hold")

        p = sub.add_parser("check-keys", help="check a newer key list offline against the keys you hold")
        p.add_argument("file", help="the JSON printed by `audit public-key` (- for stdin)")
        p.add_argument("--trusted", required=True, help="the key list (or PEM key) you hold")

    def handle(self, *args, **options):
        sub = options["sub"]
        handler = getattr(self, "do_" + sub.replace("-", "_"))
        try:
            handler(options)
        except NotFound as exc:
            raise CommandError(exc.message, returncode=BAD_INPUT) from None
        except InvalidInput as exc:
            raise CommandError(exc.message, returncode=BAD_INPUT) from None
        except CareAccessError as exc:
            raise CommandError(exc.message, returncode=FAILED) from None

    # --- against the database ------------------------------------------------------------------

    def do_verify(self, options):
        from careaccess.core.audit import offline
        from careaccess.core.audit.verify import verify

        for name in ("batch", "workers"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name} must be 1 or more, not {options[name]}", returncode=BAD_INPUT)
        progress = _Progress(self.stderr._out if hasattr(self.stderr, "_out") else sys.stderr)
        try:
            result = verify(
                check_nodes=not options["no_nodes"],
                batch=options["batch"],
                workers=options["workers"],
                progress=progress.advance,
                total_hint=progress.start,
                public_key_pem=_read(options["public_key"], "public key") if options["public_key"] else None,
            )
        except offline.MalformedInput as exc:
            raise CommandError(str(exc), returncode=BAD_INPUT) from None
        except offline.VerificationFailed as exc:
            raise CommandError(f"the key list given is REFUSED: {exc}", returncode=FAILED) from None
        finally:
            progress.stop()
        if options["json"]:
            self.stdout.write(_dump(result.as_dict()))
        if result.ok:
            if not options["json"]:
                self.stdout.write(
                    f"audit ledger intact: {result.size} entries, root {result.root}, "
                    f"{result.checkpoints_checked} checkpoint(s) and {result.nodes_checked} node(s) checked "
                    f"in {result.seconds:.2f}s"
                )
            return
        problem = result.problem
        where = f"entry {problem.index}" if problem.index is not None else "the ledger"
        raise CommandError(f"audit ledger TAMPERED at {where} ({problem.kind}): {problem.message}", returncode=FAILED)

    def do_checkpoint(self, options):
        from careaccess.core.audit import checkpoints

        self.stdout.write(_dump(checkpoints.export(checkpoints.make_checkpoint())))

    def do_prove(self, options):
        from careaccess.core.audit import proofs

        index = _int(options["entry"], "ENTRY")
        checkpoint_id = None if options["checkpoint_id"] is None else _int(options["checkpoint_id"], "--checkpoint")
        self.stdout.write(_dump(proofs.inclusion(index, checkpoint_id=checkpoint_id)))

    def do_consistency(self, options):
        from careaccess.core.audit import proofs

        old = _int(options["old"], "OLD")
        new = None if options["new"] is None else _int(options["new"], "NEW")
        if options["by_size"]:
            doc = proofs.consistency(old_size=old, new_size=new)
        else:
            doc = proofs.consistency(old, new)
        self.stdout.write(_dump(doc))

    def do_public_key(self, options):
        from careaccess.core.audit import checkpoints

        keys = checkpoints.published_keys()
        if not keys["keys"]:
            raise CommandError("the ledger has no key yet: `careaccess audit checkpoint` makes it",
                               returncode=BAD_INPUT)
        if options["pem"]:
            self.stdout.write(keys["keys"][-1]["public_key"].rstrip("\n"))
        else:
            self.stdout.write(_dump(keys))

    def do_rotate_key(self, options):
        from careaccess.core.audit import checkpoints

        retired, current, checkpoint = checkpoints.rotate_key(ACTOR)
        self.stderr.write(
            f"checkpoint key rotated: {current} signs from now on; {retired} is retired (its checkpoints still "
            "verify). Publish the new key list (`careaccess audit public-key`) to the auditors."
        )
        self.stdout.write(_dump({"retired_key_id": retired, "key_id": current,
                                 "checkpoint": checkpoints.export(checkpoint)}))

    # --- offline -------------------------------------------------------------------------------

    def do_check_proof(self, options):
        from careaccess.core.audit import offline

        doc, trusted, pem = _offline_inputs(options)
        try:
            summary = offline.check_inclusion(doc, trusted=trusted, public_key_pem=pem)
        except offline.MalformedInput as exc:
            raise CommandError(str(exc), returncode=BAD_INPUT) from None
        except offline.VerificationFailed as exc:
            raise CommandError(f"proof REFUSED: {exc}", returncode=FAILED) from None
        self.stdout.write(
            f"proof OK: entry {summary['leaf_index']} is in the ledger of {summary['tree_size']} entries with root "
            f"{summary['root_hash']}, signed by key {summary['key_id']}"
        )
        if not summary["pinned"]:
            self.stderr.write(
                "warning: no --trusted checkpoint or --public-key given, so the key was taken from the proof "
                "itself; compare the key id above with the ledger key you hold"
            )

    def do_check_consistency(self, options):
        from careaccess.core.audit import offline

        doc, trusted, pem = _offline_inputs(options)
        try:
            summary = offline.check_consistency(doc, trusted=trusted, public_key_pem=pem)
        except offline.MalformedInput as exc:
            raise CommandError(str(exc), returncode=BAD_INPUT) from None
        except offline.VerificationFailed as exc:
            raise CommandError(f"consistency REFUSED: {exc}", returncode=FAILED) from None
        self.stdout.write(
            f"consistency OK: the ledger of {summary['old_size']} entries you hold is a prefix of the ledger of "
            f"{summary['new_size']} entries with root {summary['new_root']}; hold this newer checkpoint from now on:"
        )
        self.stdout.write(_dump(summary["new_checkpoint"]))


    def do_check_keys(self, options):
        from careaccess.core.audit import offline

        try:
            doc = offline.load_json(_read(options["file"], "key list"), "the key list")
            summary = offline.check_keys(doc, trusted=_read(options["trusted"], "the keys you hold"))
        except offline.MalformedInput as exc:
            raise CommandError(str(exc), returncode=BAD_INPUT) from None
        except offline.VerificationFailed as exc:
            raise CommandError(f"key list REFUSED: {exc}", returncode=FAILED) from None
        added = ", ".join(summary["added"]) or "none"
        self.stdout.write(
            f"key list OK: it extends the keys you hold; new keys, each endorsed by the one before: {added}; "
            "hold this key list from now on:"
        )
        self.stdout.write(_dump(summary["keys"]))


def _int(value: str, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a whole number, not {value!r}", returncode=BAD_INPUT) from None
    if number < 0:
        raise CommandError(f"{what} must not be negative", returncode=BAD_INPUT)
    return number


def _read(path: str, what: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {what} {path}: {exc}", returncode=BAD_INPUT) from None


def _offline_inputs(options):
    from careaccess.core.audit import offline

    try:
        doc = offline.load_json(_read(options["file"], "proof file"), "the proof file")
        trusted = None
        if options.get("trusted"):
            trusted = offline.load_json(_read(options["trusted"], "trusted checkpoint"), "the trusted checkpoint")
        pem = _read(options["public_key"], "public key") if options.get("public_key") else None
    except offline.MalformedInput as exc:
        raise CommandError(str(exc), returncode=BAD_INPUT) from None
    return doc, trusted, pem


class _Progress:
    """A rich progress bar on stderr for big ledgers; nothing for small ones or non-terminals."""

    def __init__(self, stream):
        self.stream = stream
        self.bar = None
        self.task = None

    def start(self, total: int) -> None:
        if total < PROGRESS_FROM:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(file=self.stream, stderr=True)
        self.bar = Progress(
            TextColumn("verifying audit ledger"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("verify", total=total)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
