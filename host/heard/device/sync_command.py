"""``heard sync``: pull new records from devices over USB serial into the local database.

Per device: hello, authenticate with the secret stored for its id, fetch from the host's
cursor for (device, log id) in batches, store each batch (records, the gaps the device
skipped and the cursor in one transaction), and only then acknowledge, so the device never
deletes a record the host has not committed. Then the device clock is set to host time.
``sync_device`` does the work without click. Whatever was lost (gaps, a wiped log, bytes
cut at boot, records dropped since the last sync) is printed as a warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

import heard  # noqa: F401 - installs the micropython stand-in for heardcore
from heard.db import Database, default_path
from heard.device.client import DeviceClient, NotAnswering
from heard.device.link import find_ports, open_port
from heard.errors import HeardError
from heardcore import record
from heardcore.auth import SECRET_SIZE

MIN_BATCH = 1  # bytes asked for in a get: the device still sends one record
Progress_ = Callable[[int, int], None]  # (records fetched so far, records to fetch)


@dataclass
class SyncResult:
    """What one device's sync did."""

    device_id: str
    port: str
    firmware: str
    log_id: str
    new: int = 0
    conversations: int = 0
    events: int = 0
    duplicates: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (first, last) seqs missing
    restarted: bool = False  # the device's numbering went back without a new log id
    collected_elsewhere: int = 0  # first seq on a device this database never synced before
    new_boot: bool = False  # the device restarted since this database last saw it
    dropped: int = 0  # records the device could not write (data area full), per hello
    dropped_new: int = 0  # of those, dropped since the last sync of this log
    data_resets: list[str] = field(default_factory=list)  # why the device wiped its log
    bytes_cut: list[int] = field(default_factory=list)  # cut from a damaged log at a boot
    logs_rebuilt: list[str] = field(default_factory=list)  # state rebuilt, records kept
    acked: int | None = None  # what the device acknowledged at the end (None: no ack)
    clock_before: int | None = None  # the device clock before it was set (0: unset)
    clock_set_to: int | None = None
    secret_saved: bool = False
    text: list[str] = field(default_factory=list)  # device output received meanwhile

    @property
    def text_bytes(self) -> int:
        return sum(len(t.encode()) for t in self.text)


def sync_device(
    port: Any,
    db: Database,
    *,
    secret: bytes | None = None,
    port_name: str | None = None,
    on_text: Callable[[str], None] | None = None,
    progress: Progress_ | None = None,
    now: Callable[[], float] = time.time,
    max_bytes: int = 4096,
    timeout: float = 1.0,
    retries: int = 8,
) -> SyncResult:
    """Sync the device on an open ``port`` into ``db``; ``secret`` overrides the stored
    one (and is saved if the database has none for the device)."""
    text: list[str] = []

    def got_text(chunk: str) -> None:
        text.append(chunk)
        if on_text is not None:
            on_text(chunk)

    name = port_name or str(getattr(port, "port", "port"))
    client = DeviceClient(port, got_text, timeout=timeout, retries=retries, name=name)
    info = client.hello()
    device_id = str(info["device"])
    result = SyncResult(device_id, name, str(info.get("firmware", "?")), str(info["log"]),
                        dropped=int(info.get("dropped", 0)), text=text)
    result.secret_saved = _authenticate(client, db, device_id, secret)
    result.new_boot = db.boot_offset(device_id, int(info["boot"])) is None
    db.set_boot_offset(device_id, int(info["boot"]), now() - int(info["uptime_ms"]) / 1000)
    last = _fetch(client, db, info, result, progress, max_bytes)
    _acknowledge(client, info, result, last)
    result.clock_set_to = int(now())
    result.clock_before = client.set_clock(result.clock_set_to)
    client.bye()
    seen = db.note_dropped(device_id, result.log_id, result.dropped)
    result.dropped_new = result.dropped - seen if result.dropped >= seen else result.dropped
    db.note_sync(device_id, result.firmware, now())
    return result


def _authenticate(
    client: DeviceClient, db: Database, device_id: str, override: bytes | None
) -> bool:
    """Authenticate; True if ``override`` was saved as the device's secret."""
    stored = db.secret(device_id)
    secret = override if override is not None else stored
    if secret is None:
        raise HeardError(
            f"device {device_id} is not provisioned on this computer (no secret for it in "
            f"{db.path or 'the database'})",
            hint="provision it here with `heard flash`, or pass its secret with --secret-hex "
            "(`heard emulate --db` registers an emulated device's secret in that database)")
    client.auth(secret)
    if override is not None and stored is None:
        db.set_secret(device_id, override)
        return True
    return False


def start_seq(cursor: int | None, first: int, next_: int) -> tuple[int, tuple[int, int] | None,
                                                                     bool]:
    """Where to start fetching: (seq, a gap of lost records or None, numbering restarted)."""
    if cursor is None:
        return first, None, False
    if cursor > next_:
        return first, None, True
    if cursor < first:
        return first, (cursor, first - 1), False
    return cursor, None, False


def _fetch(
    client: DeviceClient, db: Database, info: dict[str, Any], result: SyncResult,
    progress: Progress_ | None, max_bytes: int,
) -> int | None:
    """Fetch and store every record up to hello's ``next``; the last seq received."""
    first, end = int(info["first"]), int(info["next"])
    cursor = db.cursor(result.device_id, result.log_id)
    pos, gap, result.restarted = start_seq(cursor, first, end)
    # After a restart, what the device has not had acknowledged is fetched again even if
    # this database got it (an ack that never arrived): a record cut at the restart gives
    # its seq to the next one, which has the new boot id. Records already here are skipped
    # by (boot id, seq).
    acked = int(info.get("acked", 0))
    if result.new_boot and not result.restarted and gap is None and first <= acked + 1 < pos:
        pos = acked + 1
    if cursor is None and first > 1 and not db.counts(result.device_id).records:
        result.collected_elsewhere = first  # records before it went to another database
    pending = [] if gap is None else [gap]  # kept with the first batch
    _merge_gaps(result.gaps, pending)
    begin, last = pos, None
    size = max_bytes
    while pos < end:
        if progress is not None:
            progress(pos - begin, end - begin)
        resends = client.stats.resends
        try:
            raws, resume = client.get(pos, size)
        except NotAnswering:
            if size <= MIN_BATCH:
                raise
            size = max(MIN_BATCH, size // 4)  # a noisy link: smaller answers get through
            continue
        if client.stats.resends > resends:
            size = max(MIN_BATCH, size // 2)
        else:
            size = min(max_bytes, size * 2)
        seqs = _check_batch(raws, pos, resume, result.device_id)
        skipped = _skipped(pos, seqs, resume)
        _merge_gaps(result.gaps, skipped)
        stored = db.store_records(result.device_id, result.log_id, raws, next_seq=resume,
                                  gaps=pending + skipped)
        pending = []
        result.data_resets += stored.data_resets
        result.bytes_cut += stored.bytes_cut
        result.logs_rebuilt += stored.logs_rebuilt
        result.new += stored.new
        result.duplicates += stored.duplicates
        result.conversations += stored.conversations
        result.events += stored.events
        last = seqs[-1] if seqs else last
        pos = resume
    if pending:  # nothing to fetch: keep the gap and move the cursor past it
        db.store_records(result.device_id, result.log_id, [], next_seq=pos, gaps=pending)
    if progress is not None:
        progress(max(end, pos) - begin, max(end, pos) - begin)
    if last is None and begin > first and not result.restarted:
        last = begin - 1  # stored by an earlier sync whose acknowledgement may have failed
    return last


def _check_batch(raws: list[bytes], pos: int, resume: int, device_id: str) -> list[int]:
    """The batch's seqs; refuses a batch that would store wrongly or loop forever."""
    seqs = []
    for raw in raws:
        try:
            rec = record.decode(raw)
        except (record.RecordError, ValueError) as exc:
            raise HeardError(f"device {device_id} sent a record this heard cannot decode "
                             f"({exc})", hint="upgrade heard") from exc
        seqs.append(int(rec["seq"]))
    ordered = all(a < b for a, b in zip(seqs, seqs[1:], strict=False))
    if resume <= pos or not ordered or (seqs and (seqs[0] < pos or seqs[-1] >= resume)):
        raise HeardError(f"device {device_id} answered get from {pos} inconsistently "
                         f"(records {seqs[:1]}..{seqs[-1:]}, resume {resume})",
                         hint="update the device firmware (`heard flash`)")
    return seqs


def _skipped(pos: int, seqs: list[int], resume: int) -> list[tuple[int, int]]:
    """The (first, last) seq ranges in [pos, resume) that the device skipped."""
    out, expected = [], pos
    for seq in [*seqs, resume]:
        if seq > expected:
            out.append((expected, seq - 1))
        expected = seq + 1
    return out


def _merge_gaps(gaps: list[tuple[int, int]], new: list[tuple[int, int]]) -> None:
    """Add ``new`` gaps (in order, after the others) to ``gaps``, merging adjacent ones."""
    for first, last in new:
        if gaps and gaps[-1][1] == first - 1:
            gaps[-1] = (gaps[-1][0], last)
        else:
            gaps.append((first, last))


def _acknowledge(
    client: DeviceClient, info: dict[str, Any], result: SyncResult, last: int | None
) -> None:
    """Ack up to the last stored seq, if the device has not acknowledged it already."""
    if last is None or last <= int(info.get("acked", 0)):
        return
    result.acked = client.ack(last)


# --- the command ---------------------------------------------------------------------------


@click.command("sync")
@click.option("--port", "port_name", metavar="PORT",
              help="Serial port or pyserial URL (/dev/ttyUSB0, COM3, socket://HOST:PORT). "
              "Default: the one ESP32 board connected.")
@click.option("--all", "all_ports", is_flag=True, help="Sync every ESP32 board connected.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="HEARD_DB", help=f"Database file [default: {default_path()}].")
@click.option("--secret-hex", metavar="HEX",
              help="The device's secret (64 hex digits) instead of the stored one; saved if "
              "none is stored.")
def sync(port_name: str | None, all_ports: bool, db_path: Path | None,
         secret_hex: str | None) -> None:
    """Pull new records from heard devices over USB serial into the local database."""
    secret = _parse_secret(secret_hex)
    ports = _choose_ports(port_name, all_ports)
    if secret is not None and len(ports) > 1:
        raise click.UsageError("--secret-hex is for one device: pick it with --port")
    err = Console(stderr=True, soft_wrap=True)
    failures = 0
    where = db_path or default_path()
    existed = where.exists()
    blank = not existed or where.stat().st_size == 0
    db = Database.open(where)
    try:
        for name in ports:
            try:
                result = _sync_port(name, db, secret, err)
            except HeardError as exc:
                if len(ports) == 1:
                    raise
                failures += 1
                err.print(f"error: {name}: {exc}", markup=False, highlight=False)
                continue
            _print_summary(result, err)
    finally:
        unused = blank and db.is_empty()  # nothing stored: leave the file as it was
        db.close()
        if unused and existed:
            where.write_bytes(b"")
        elif unused:
            where.unlink(missing_ok=True)
    if failures:
        raise HeardError(f"{failures} of {len(ports)} devices did not sync (see above)")


def _parse_secret(secret_hex: str | None) -> bytes | None:
    if secret_hex is None:
        return None
    try:
        secret = bytes.fromhex(secret_hex)
    except ValueError:
        secret = b""
    if len(secret) != SECRET_SIZE:
        raise click.BadParameter(f"want {2 * SECRET_SIZE} hex digits", param_hint="--secret-hex")
    return secret


def _choose_ports(port_name: str | None, all_ports: bool) -> list[str]:
    if port_name is not None:
        if all_ports:
            raise click.UsageError("--port and --all exclude each other")
        return [port_name]
    found = find_ports()
    if not found:
        raise HeardError("no ESP32 board found on USB",
                         hint="plug the device in (a data cable, not a charging cable), "
                         "or name its port with --port")
    if len(found) > 1 and not all_ports:
        listing = "\n".join(f"  {p.describe()}" for p in found)
        raise HeardError(f"{len(found)} ESP32 boards are connected:\n{listing}",
                         hint="pick one with --port PORT, or sync them all with --all")
    return [p.device for p in found]


def _sync_port(name: str, db: Database, secret: bytes | None, err: Console) -> SyncResult:
    port = open_port(name)
    try:
        with Progress(TextColumn(f"[bold]sync[/bold] {escape(name)}"), BarColumn(),
                      MofNCompleteColumn(), console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task("records", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            def show(text: str) -> None:
                for line in text.splitlines():
                    if line.strip():
                        bar.console.print(f"device: {line.rstrip()}", markup=False,
                                          highlight=False)

            return sync_device(port, db, secret=secret, port_name=name, on_text=show,
                               progress=advance)
    finally:
        port.close()


def _print_summary(r: SyncResult, err: Console) -> None:
    click.echo(f"{r.device_id} on {r.port} (firmware {r.firmware}, log {r.log_id})")
    click.echo(f"  new records: {r.new} ({r.conversations} conversations, {r.events} events)")
    click.echo(f"  duplicates skipped: {r.duplicates}")
    gaps = _seqs(r.gaps)
    click.echo(f"  gaps (records lost): {'seq ' + gaps if gaps else 'none'}")
    if r.restarted:
        click.echo("  note: the device's numbering went back; fetched its log from the start")
    if r.collected_elsewhere:
        click.echo(f"  note: records 1-{r.collected_elsewhere - 1} of this device were "
                   "collected before by another computer or database and are no longer on "
                   "the device; a device's records go to whichever syncs it first")
    click.echo(f"  device text: {r.text_bytes} bytes" + (" (shown above)" if r.text else ""))
    click.echo(f"  clock: {_clock_note(r)}")
    if r.secret_saved:
        click.echo("  secret saved for this device")
    for line in loss_warnings(r):
        err.print(f"warning: {line}", markup=False, highlight=False)
    for reason in r.logs_rebuilt:
        err.print(f"note: {r.device_id} found its record log's bookkeeping damaged ({reason}) "
                  "and rebuilt it from the records: none was lost, but how many it had "
                  "dropped before then is not known", markup=False, highlight=False)


def _seqs(gaps: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in gaps)


def loss_warnings(r: SyncResult) -> list[str]:
    """What the device lost, as found by this sync: one sentence each (none: nothing)."""
    out = []
    lost = sum(b - a + 1 for a, b in r.gaps)
    if lost:
        out.append(f"{r.device_id} lost {lost} record{'s' * (lost != 1)} before this "
                   f"computer got them (seq {_seqs(r.gaps)}): they were no longer on the "
                   "device or were damaged there")
    for reason in r.data_resets:
        out.append(f"{r.device_id} wiped its record log ({reason}): records it had not yet "
                   "synced are lost")
    for cut in r.bytes_cut:
        out.append(f"{r.device_id} cut {cut} bytes of a damaged record log when it started "
                   "(most likely power was lost while it was writing): at least the record "
                   "being written then is lost")
    if r.dropped_new:
        out.append(f"{r.device_id} dropped {r.dropped_new} record{'s' * (r.dropped_new != 1)} "
                   "(conversations or events) since the last sync because its data area was "
                   f"full ({r.dropped} in all): sync it more often")
    return out


def _clock_note(r: SyncResult) -> str:
    if r.clock_before is None or r.clock_set_to is None:
        return "not set"
    if r.clock_before == 0:
        return "set (it was unset)"
    drift = r.clock_before - r.clock_set_to
    return f"set (it was {abs(drift)} s {'ahead' if drift > 0 else 'behind'})" if drift \
        else "set (it was right)"
