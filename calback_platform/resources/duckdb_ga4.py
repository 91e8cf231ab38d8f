"""Landing a window of GA4 export files in DuckDB, in two streamed passes over the files.

The first pass judges every line on narrow columns, the second parses the lines to keep in one
INSERT, both in set-based SQL; Arrow splits the files into lines, so Python never looks at a line.
Memory holds a few batches of lines and the judged columns, never a day, and the whole window
lands in one transaction (the caller's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calback_platform.resources.ga4_schema import GA4_EVENT_SCHEMA, GA4_REQUIRED_FIELDS
from calback_platform.resources.warehouse import Ga4LoadStats, raise_corrupt_export

EVENTS = "raw_ga4.events"
QUARANTINE = "raw_ga4.events_quarantine"
_LINE_BLOCK_BYTES = 16 * 1024 * 1024
# Small batches: DuckDB's threads share an Arrow stream batch by batch.
_BATCH_LINES = 1024
# What judging a line needs: its required fields only, a fraction of a full parse.
_REQUIRED_STRUCTURE = json.dumps({name: GA4_EVENT_SCHEMA[name] for name in GA4_REQUIRED_FIELDS})
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Top-level fields (names and JSON types) are profiled on every SAMPLE_EVERY-th usable line.
SAMPLE_EVERY = 20


def line_blocks(path: Path, block_bytes: int = _LINE_BLOCK_BYTES) -> Iterator[pa.Table]:
    """A text file's lines as Arrow tables of (line_number, line), about `block_bytes` each.

    Blocks are read into one reused buffer, and Arrow splits them in C++ straight from it: the
    bytes are copied once, into the lines. Python only finds the last newline of a block.
    """
    first_line = 1
    buffer = bytearray(block_bytes)
    held = 0  # the start of a line the previous block cut off, moved to the buffer's front
    with path.open("rb", buffering=0) as source:
        while True:
            if held == len(buffer):
                buffer.extend(bytes(len(buffer)))  # a line longer than the buffer
            with memoryview(buffer) as view, view[held:] as free:
                read = source.readinto(free)
            end = held + read
            cut = buffer.rfind(b"\n", 0, end) + 1 if read else end
            if cut:
                text = pa.py_buffer(buffer).slice(0, cut - (buffer[cut - 1] == ord("\n")))
                lines = _split_lines(text)
                del text  # before the buffer is refilled
                numbers = pa.array(np.arange(first_line, first_line + len(lines), dtype=np.int64))
                first_line += len(lines)
                yield pa.table({"line_number": numbers, "line": lines})
            buffer[: end - cut] = buffer[cut:end]
            held = end - cut
            if not read:
                return


def _split_lines(text: pa.Buffer) -> pa.Array:
    """`text` split at newlines, as strings (new memory); bytes not UTF-8 become U+FFFD."""
    offsets = pa.array([0, text.size], pa.int64()).buffers()[1]
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, text])
    lines = pc.list_flatten(pc.split_pattern(whole, b"\n"))
    try:
        return lines.cast(pa.large_string())  # validates; copies nothing
    except pa.ArrowInvalid:
        return _split_lines(pa.py_buffer(text.to_pybytes().decode("utf-8", "replace").encode()))


def _reason_sql() -> str:
    """Why a line is unusable (NULL when it is fine), as a SQL CASE over `r`, the line's
    required fields, and `line` itself."""
    checks = ["when r is null then 'unparsable JSON'"]
    for name in GA4_REQUIRED_FIELDS:
        value = f"json_extract(line, '$.{name}')"
        checks.append(
            f"when r.{name} is null and {value} is not null and json_type({value}) <> 'NULL' "
            f"then '{name} has the wrong type: ' || left({value}::varchar, 80)"
        )
        checks.append(f"when r.{name} is null or r.{name}::varchar = '' then 'missing {name}'")
    checks.append(
        "when r.event_date <> strftime(export_date, '%Y%m%d') "
        "then 'event_date ' || r.event_date || ' is not the export day'"
    )
    return "case " + " ".join(checks) + " end"


# The shape of what was read, for schema-drift checks: the JSON types of the sampled lines'
# top-level fields (one multi-path json_extract per line over `{paths}`, the keys seen) ...
_FIELDS_SQL = """
    select name, string_agg(distinct kind, '|' order by kind)
    from (
        select 'field:' || unnest(?::varchar[]) as name,
               unnest(list_transform(json_extract(line, {paths}), lambda v: json_type(v))) as kind
        from ga4_judged
        where reason is null and line is not null
    )
    where kind is not null  -- a key the line does not have
    group by name
"""
# ... and the event names and parameter value types of the rows landed.
_LANDED_SQL = """
    with params as (  -- distinct before the kinds are named: rows repeat a few shapes
        select distinct p.key,
               p.value.string_value is not null as string,
               p.value.int_value is not null as int,
               coalesce(p.value.double_value, p.value.float_value) is not null as double
        from (
            select unnest(event_params) as p from {events}
            where export_date >= $first and export_date <= $last
        )
    ),
    kinds as (
        select 'param:' || key as name,
               case when string then 'string' when int then 'int' when double then 'double'
                    else 'null' end as kind
        from params
    )
    select distinct 'event:' || event_name, 'event' from {events}
    where export_date >= $first and export_date <= $last
    union all
    select name, string_agg(distinct kind, '|' order by kind) from kinds group by name
"""


_LINE_SCHEMA = pa.schema(
    [
        ("export_date", pa.date32()),
        ("file_number", pa.int32()),
        ("line_number", pa.int64()),
        ("line", pa.large_string()),
    ]
)


def window_lines(files: list[tuple[date, Path]]) -> pa.RecordBatchReader:
    """Every line of the window's files, numbered per file, as one Arrow stream."""

    def batches() -> Iterator[pa.RecordBatch]:
        for file_number, (day, path) in enumerate(files):
            for block in line_blocks(path):
                block = block.add_column(0, "export_date", pa.repeat(day, len(block)))
                block = block.add_column(1, "file_number", pa.repeat(file_number, len(block)))
                yield from block.cast(_LINE_SCHEMA).to_batches(max_chunksize=_BATCH_LINES)

    return pa.RecordBatchReader.from_batches(_LINE_SCHEMA, batches())


def _version(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


class Ga4WindowLoad:
    """One window's export files, landed into `raw_ga4.events` on an open transaction of `con`.

    Two passes stream the files: the first judges every line on narrow columns (its hash,
    length and why it is unusable) and keeps only unusable and sampled lines; the second
    parses the lines to land in one INSERT, so DuckDB's threads write it like `read_json`.
    Memory holds a few batches of lines and the judged columns, never a day.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, structure: str, loaded_at: datetime):
        self.con, self.structure, self.loaded_at = con, structure, loaded_at

    def load(self, files: dict[date, list[Path]], max_bad_share: float) -> Ga4LoadStats:
        """Land the window; a day with too many unusable lines fails it, landing nothing."""
        con = self.con
        numbered = [(day, path) for day, paths in files.items() for path in paths]
        con.execute(
            "create or replace temp table ga4_files (file_number integer, source_file varchar)"
        )
        con.executemany(
            "insert into ga4_files values (?, ?)",
            [[number, str(path)] for number, (_, path) in enumerate(numbered)],
        )
        versions = [_version(path) for _, path in numbered]  # both passes must read the same
        self._judge(numbered)
        self._list_skipped()
        con.execute("delete from ga4_judged where blank")  # a blank line is no line
        self._check_bad_shares(max_bad_share)
        stats = self._read_stats()
        stats.files = [str(path) for _, path in numbered]
        con.execute(
            f"""insert into {QUARANTINE}
            select export_date, source_file, line_number, reason, line, ?
            from ga4_judged join ga4_files using (file_number)
            where reason is not null""",
            [self.loaded_at],
        )
        con.execute("drop table ga4_judged")  # its memory is the insert's now
        self._land(numbered)
        if [_version(path) for _, path in numbered] != versions:
            raise dg.Failure(
                "A GA4 export file changed while it was loaded; nothing was replaced. "
                "Run the partition again once the export has settled."
            )
        self._landed_stats(stats, min(files), max(files))
        return stats

    def _judge(self, numbered: list[tuple[date, Path]]) -> None:
        ga4_lines = window_lines(numbered)  # noqa: F841 (read by name in the SQL)
        self.con.execute(
            f"""
            create or replace temp table ga4_judged as
            with parsed as (select *, json_valid(line) as valid from ga4_lines),
            judged as (
                select *, case when valid then json_transform(line, '{_REQUIRED_STRUCTURE}') end
                          as r
                from parsed
            )
            select export_date, file_number, line_number,
                   hash(line) as line_hash, length(line) as line_length,
                   case when valid then false else trim(line) = '' end as blank,  -- trim copies
                   {_reason_sql()} as reason,
                   -- the text of unusable lines (to quarantine) and of a sample (to profile)
                   case when (reason is not null or line_number % {SAMPLE_EVERY} = 1)
                             and not blank
                        then line end as line
            from judged"""
        )

    def _list_skipped(self) -> None:
        """The lines not to land: blank and unusable ones, and exact duplicates of a line
        before them on the day (the same 64-bit hash and length; two different lines alike in
        both: about 1 in 10^12 for a year of events)."""
        self.con.execute(
            """
            create or replace temp table ga4_skipped as
            select file_number, line_number from ga4_judged where reason is not null
            union all
            select file_number, line_number from ga4_judged
            where reason is null
            qualify row_number() over (
                partition by export_date, line_hash, line_length
                order by file_number, line_number) > 1"""
        )

    def _check_bad_shares(self, max_bad_share: float) -> None:
        for day, lines, bad in self.con.execute(
            "select export_date, count(*), count(reason) from ga4_judged group by 1 order by 1"
        ).fetchall():
            if bad / lines > max_bad_share:
                first_bad = self.con.execute(
                    """select source_file, line_number, reason, left(line, 160)
                    from ga4_judged join ga4_files using (file_number)
                    where export_date = ? and reason is not null
                    order by file_number, line_number limit 1""",
                    [day],
                ).fetchall()[0]
                raise_corrupt_export(day, lines, bad, max_bad_share, first_bad)

    def _read_stats(self) -> Ga4LoadStats:
        """Lines read and quarantined, and the top-level fields of the sampled lines."""
        con, stats = self.con, Ga4LoadStats()
        stats.source_lines, usable = con.execute(
            "select count(*), count(*) - count(reason) from ga4_judged"
        ).fetchall()[0]
        stats.duplicates = usable  # less the rows landed (_landed_stats)
        for reason, count in con.execute(
            "select split_part(reason, ':', 1), count(*) from ga4_judged "
            "where reason is not null group by 1"
        ).fetchall():
            stats.quarantined[reason] += count
        keys = [
            key
            for (key,) in con.execute(
                "select distinct unnest(json_keys(line)) from ga4_judged "
                "where reason is null and line is not null"
            ).fetchall()
            if _PLAIN_KEY.fullmatch(key)  # a key that could not be a JSON path is not typed
        ]
        if keys:
            paths = "[" + ", ".join(f"'$.{key}'" for key in keys) + "]"
            stats.schema = dict(con.execute(_FIELDS_SQL.format(paths=paths), [keys]).fetchall())
        return stats

    def _land(self, numbered: list[tuple[date, Path]]) -> None:
        ga4_lines = window_lines(numbered)  # noqa: F841 (read by name in the SQL)
        self.con.execute(
            f"""insert into {EVENTS}
            select unnest(json_transform(line, '{self.structure}')), export_date, ?
            from ga4_lines
            -- NOT IN hashes the short list: an anti join would hash the lines instead
            where (file_number, line_number) not in (
                  select (file_number, line_number) from ga4_skipped)""",
            [self.loaded_at],
        )

    def _landed_stats(self, stats: Ga4LoadStats, first: date, last: date) -> None:
        for day, rows in self.con.execute(
            f"select export_date, count(*) from {EVENTS} "
            "where export_date >= ? and export_date <= ? group by 1",
            [first, last],
        ).fetchall():
            stats.rows += rows
            stats.duplicates -= rows
            stats.rows_by_day[day.isoformat()] = rows
        stats.schema |= dict(
            self.con.execute(
                _LANDED_SQL.format(events=EVENTS), {"first": first, "last": last}
            ).fetchall()
        )
