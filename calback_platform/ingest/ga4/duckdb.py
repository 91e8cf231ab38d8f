"""Landing a window of GA4 export files in DuckDB, losslessly, in two streamed passes over them.

The first pass judges every line on narrow columns (is it JSON, UTF-8, its required fields, its
hash, its shape), the second parses the lines to keep in one INSERT; the lines are Arrow views
of the blocks read (numpy finds the newlines), so Python never looks at a line, except the few
it reads back by their byte offset: one line of each distinct shape (to learn the window's
structure) and the lines that hold a value their type cannot take. Memory holds a few blocks of
lines and the judged columns, never a day, and the whole window lands in one transaction (the
caller's).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from calback_platform.ingest.ga4.export import LocalGA4Export
from calback_platform.ingest.ga4.load import LOAD_EVERY_DAY, Ga4DayPolicy, Ga4Loader, Ga4LoadStats
from calback_platform.ingest.ga4.schema import (
    GA4_QUARANTINE_SCHEMA,
    GA4_RAW_SCHEMA,
    GA4_REQUIRED_FIELDS,
    ShapeReport,
    broken_reason,
    duckdb_json_structure,
    duckdb_structure,
    duckdb_type,
    is_broken,
    read_shape,
    rejected_values,
    suspect_values_pattern,
    unusable_reason_sql,
)
from calback_platform.warehouse.duckdb import DuckDBWarehouse

EVENTS = "raw_ga4.events"
QUARANTINE = "raw_ga4.events_quarantine"
REJECTED_VALUES = "raw_ga4.events_rejected_values"
EVENTS_COLUMNS = [(name, duckdb_type(node)) for name, node in GA4_RAW_SCHEMA.items()]
QUARANTINE_COLUMNS = [(f.name, DuckDBWarehouse.column_types[f.type]) for f in GA4_QUARANTINE_SCHEMA]
REJECTED_VALUES_COLUMNS = [
    ("export_date", "DATE"),
    ("source_file", "VARCHAR"),
    ("line_number", "BIGINT"),
    ("field", "VARCHAR"),  # its path, e.g. items[].price
    ("value", "JSON"),  # as the export had it; the event landed with NULL (or the cast value)
    ("expected_type", "VARCHAR"),
    ("_loaded_at", "TIMESTAMPTZ"),
]
_LINE_BLOCK_BYTES = 16 * 1024 * 1024
# About a block a batch: DuckDB's threads take the stream's batches in turn, and fewer, larger
# batches cost less to hand over (measured: 16,384 lines stream in 0.7 of the time of 1,024).
_BATCH_LINES = 16384
# What judging a line needs: its required fields only, a fraction of a full parse.
_REQUIRED_STRUCTURE = json.dumps({name: duckdb_structure()[name] for name in GA4_REQUIRED_FIELDS})


def line_blocks(path: Path, block_bytes: int = _LINE_BLOCK_BYTES) -> Iterator[pa.Table]:
    """A text file's lines as Arrow tables of (line_number, byte_offset, line, bad_utf8), about
    `block_bytes` each. Every line keeps its newline (the last one gains one if it had none).

    Each block is read into its own buffer and the lines are views of it: numpy finds the
    newlines, Arrow validates the UTF-8, and nothing is copied (the lines of a block are
    contiguous because they keep their newlines).
    """
    first_line = 1
    held = b""  # the start of a line the previous block cut off
    start = 0  # the file offset of the block's first byte
    with path.open("rb", buffering=0) as source:
        while True:
            buffer = np.empty(len(held) + block_bytes + 1, np.uint8)  # + 1: a last newline
            buffer[: len(held)] = np.frombuffer(held, np.uint8)
            end = len(held) + source.readinto(memoryview(buffer)[len(held) : -1])
            at_end = end == len(held)
            if at_end and end and buffer[end - 1] != ord("\n"):
                buffer[end] = ord("\n")  # the file's last line, which had no newline
                end += 1
            newlines = np.flatnonzero(buffer[:end] == ord("\n"))
            if len(newlines):
                cut = int(newlines[-1]) + 1
                offsets = np.concatenate(([0], newlines + 1))
                lines, bad_utf8 = _lines(pa.py_buffer(buffer), offsets)
                yield pa.table(
                    {
                        "line_number": np.arange(first_line, first_line + len(newlines)),
                        "byte_offset": start + offsets[:-1],
                        "line": lines,
                        "bad_utf8": bad_utf8,
                    }
                )
                first_line += len(newlines)
            elif not at_end:
                cut = 0  # a line longer than the block: read on
            if at_end:
                return
            held, start = buffer[cut:end].tobytes(), start + cut


def _lines(text: pa.Buffer, offsets: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The lines of `text` between `offsets`, as strings viewing it; and which lines were not
    UTF-8 (those are decoded with U+FFFD in place of their bad bytes)."""
    lines = pa.Array.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets.astype(np.int64)), text]
    )
    bad = _not_utf8(lines)
    if not bad:
        return lines.cast(pa.large_string()), pa.nulls(len(lines), pa.bool_())
    mask = np.zeros(len(lines), bool)
    mask[bad] = True
    decoded = [lines[n].as_py().decode("utf-8", "replace").encode() for n in bad]
    fixed = pc.replace_with_mask(lines, pa.array(mask), pa.array(decoded, pa.large_binary()))
    return fixed.cast(pa.large_string()), pa.array(mask, mask=~mask)  # true or null


def _not_utf8(lines: pa.Array, first: int = 0) -> list[int]:
    """The positions of the lines that are not UTF-8, found by halving: Arrow validates whole
    arrays quickly, and such lines are rare."""
    try:
        lines.cast(pa.large_string())
        return []
    except pa.ArrowInvalid:
        if len(lines) == 1:
            return [first]
        half = len(lines) // 2
        return _not_utf8(lines.slice(0, half), first) + _not_utf8(lines.slice(half), first + half)


def _ends_with_newline(path: Path) -> bool:
    """Whether a file is empty or its last byte is a newline."""
    with path.open("rb") as source:
        if source.seek(0, 2) == 0:
            return True
        source.seek(-1, 2)
        return source.read(1) == b"\n"


def read_lines_at(path: Path, offsets: list[int]) -> list[bytes]:
    """The lines that start at these byte offsets of a file, without their newline."""
    lines = []
    with path.open("rb") as source:
        for offset in offsets:
            source.seek(offset)
            lines.append(source.readline().removesuffix(b"\n"))
    return lines


def _reason_sql() -> str:
    """Why a line is unusable (NULL when it is fine), over `r` (the line's required fields) and
    `line` itself: a line can also be no UTF-8, no JSON, or hold a required field of the wrong
    type, which the typed export in BigQuery cannot."""
    not_json = ["when bad_utf8 then 'not valid UTF-8'", "when r is null then 'unparsable JSON'"]
    for name in GA4_REQUIRED_FIELDS:
        value = f"json_extract(line, '$.{name}')"
        not_json.append(
            f"when r.{name} is null and {value} is not null and json_type({value}) <> 'NULL' "
            f"then '{name} has the wrong type: ' || left({value}::varchar, 80)"
        )
    return unusable_reason_sql(
        lambda name: f"r.{name}", "strftime(export_date, '%Y%m%d')", first=not_json
    )


# The event names and parameter value types of the rows landed, for the schema-drift check.
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
        ("byte_offset", pa.int64()),
        ("line", pa.large_string()),
        ("bad_utf8", pa.bool_()),
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


def ensure_table(con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]]):
    """Create `table` with these columns, or bring an older layout of it to them: rows are copied
    by column name, and a record gains its new fields as NULL."""
    schema = table.split(".")[0]
    ddl = ", ".join(f'"{column}" {kind}' for column, kind in columns)
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create table if not exists {table} ({ddl})")
    wanted = ", ".join(f'null::{kind} as "{column}"' for column, kind in columns)
    layout = "select column_name, column_type from ({})"
    if (
        con.execute(layout.format(f"describe {table}")).fetchall()
        != con.execute(layout.format(f"describe select {wanted}")).fetchall()
    ):
        con.execute(f"alter table {table} rename to {table.split('.')[1]}_before_upgrade")
        con.execute(f"create table {table} ({ddl})")
        con.execute(f"insert into {table} by name select * from {table}_before_upgrade")
        con.execute(f"drop table {table}_before_upgrade")


class Ga4WindowLoad:
    """One window's export files, landed into `raw_ga4.events` on an open transaction of `con`.

    Two passes stream the files: the first judges every line on narrow columns and keeps only
    the text of unusable and suspect lines; the second parses the lines to land in one INSERT,
    so DuckDB's threads write it like `read_json`. Between them, one line of each distinct shape
    is read back by its offset to learn the window's structure: fields the schema does not know
    (kept in `_unknown_fields`), fields of a kind their type cannot take, broken parameters.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, structure: str, loaded_at: datetime):
        self.con, self.structure, self.loaded_at = con, structure, loaded_at
        self.paths: list[Path] = []

    def load(self, files: dict[date, list[Path]], policy: Ga4DayPolicy) -> Ga4LoadStats:
        """Land the window; a day the policy takes for a broken export fails it, landing
        nothing."""
        con = self.con
        numbered = [(day, path) for day, paths in files.items() for path in paths]
        self.paths = [path for _, path in numbered]
        con.execute(
            "create or replace temp table ga4_files (file_number integer, source_file varchar)"
        )
        con.executemany(
            "insert into ga4_files values (?, ?)",
            [[number, str(path)] for number, (_, path) in enumerate(numbered)],
        )
        versions = [_version(path) for _, path in numbered]  # both passes must read the same
        self._judge(numbered)
        shapes = self._read_shapes()
        self._check_values(shapes)
        self._list_skipped()
        self._check_files_whole(numbered, policy)
        con.execute("delete from ga4_judged where blank")  # a blank line is no line
        self._check_bad_shares(policy)
        self._check_volumes(list(files), policy)
        stats = self._read_stats(shapes)
        stats.files = [str(path) for _, path in numbered]
        self._write_quarantine()
        stats.rejected_values = self._write_rejected_values()
        unknown_fields = self._list_unknown_lines(shapes)
        con.execute("drop table ga4_judged")  # its memory is the insert's now
        self._land(numbered, unknown_fields)
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
            with parsed as (
                select *, coalesce(not bad_utf8, true) and json_valid(line) as valid
                from ga4_lines
            ),
            judged as (
                select *, case when valid then json_transform(line, '{_REQUIRED_STRUCTURE}') end
                          as r
                from parsed
            )
            select export_date, file_number, line_number, byte_offset,
                   hash(line) as line_hash, length(line) as line_length,
                   -- whitespace only (trim copies: only invalid lines are trimmed)
                   case when valid then false else trim(line, e' \t\r\n') = '' end as blank,
                   {_reason_sql()} as reason,
                   -- its shape: the keys of every object in it, the line's own first (one parse)
                   case when valid then hash(json_keys('[' || line || ']', '$.**')) end as shape,
                   valid and regexp_matches(line, $suspect) as suspect,
                   -- the text (without its newline) of the lines to quarantine or to check
                   case when (reason is not null or suspect) and not blank
                        then rtrim(line, e'\n') end as line
            from judged""",
            {"suspect": suspect_values_pattern()},
        )

    def _fetch(self, where: str) -> list[tuple[int, int, str]]:
        """(file_number, line_number, text) of the judged lines matching `where`, read back from
        the files by byte offset unless the judge kept their text."""
        rows = self.con.execute(
            f"select file_number, line_number, byte_offset, line from ga4_judged where {where} "
            "order by file_number, line_number"
        ).fetchall()
        missing: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for file_number, line_number, offset, line in rows:
            if line is None:
                missing[file_number].append((line_number, offset))
        read = {}
        for file_number, lines in missing.items():
            texts = read_lines_at(self.paths[file_number], [offset for _, offset in lines])
            for (line_number, _), text in zip(lines, texts, strict=True):
                read[file_number, line_number] = text.decode("utf-8")
        return [
            (file_number, line_number, read[file_number, line_number] if line is None else line)
            for file_number, line_number, _, line in rows
        ]

    def _keep(self, table: str, columns: str, rows: list) -> None:
        """`rows` as a temporary table, for the SQL that follows."""
        self.con.execute(f"create or replace temp table {table} ({columns})")
        if rows:  # one list per column, unnested side by side: executemany goes row by row
            columns_of_rows = [list(column) for column in zip(*rows, strict=True)]
            unnested = ", ".join(f"unnest(${n + 1})" for n in range(len(columns_of_rows)))
            self.con.execute(f"insert into {table} select {unnested}", columns_of_rows)

    def _read_shapes(self) -> dict[int, ShapeReport]:
        """Each distinct line structure of the window's usable lines, read from its first line."""
        firsts = self.con.execute(
            """select shape, arg_min(file_number, (file_number, line_number)),
                      arg_min(line_number, (file_number, line_number))
            from ga4_judged where reason is null and shape is not null group by shape"""
        ).fetchall()
        if not firsts:
            return {}
        self._keep(
            "ga4_shape_lines",
            "file_number integer, line_number bigint",
            [[f, n] for _, f, n in firsts],
        )
        texts = {
            (f, n): text
            for f, n, text in self._fetch(
                "(file_number, line_number) in (select (file_number, line_number) "
                "from ga4_shape_lines)"
            )
        }
        shape_of = {(f, n): shape for shape, f, n in firsts}
        keys = list(texts)
        structures = self.con.execute(
            "select json_structure(unnest(?::varchar[]))", [[texts[key] for key in keys]]
        ).fetchall()
        return {
            shape_of[key]: read_shape(json.loads(structure))
            for key, (structure,) in zip(keys, structures, strict=True)
        }

    def _check_values(self, shapes: dict[int, ShapeReport]) -> None:
        """Read value by value the lines that may hold a value its type cannot take: those the
        judge found suspect, and those of a shape with such a value. A line whose parameters are
        no array of parameters is unusable (as one without a name is); the other values are
        kept in `ga4_rejected`, and their lines land."""
        broken = {shape: is_broken(report) for shape, report in shapes.items()}
        self._keep(
            "ga4_suspect_shapes",
            "shape ubigint, reason varchar",
            [[shape, reason] for shape, reason in broken.items() if shapes[shape].mistyped],
        )
        rejected, reasons = [], []
        for file_number, line_number, text in self._fetch(
            "reason is null and (suspect or shape in (select shape from ga4_suspect_shapes))"
        ):
            found = rejected_values(json.loads(text))
            reason = broken_reason(found)
            if reason:
                reasons.append([file_number, line_number, reason, text])
            else:
                rejected += [[file_number, line_number, *value] for value in found]
        self._keep(
            "ga4_rejected",
            "file_number integer, line_number bigint, field varchar, value json, expected varchar",
            rejected,
        )
        self._keep(
            "ga4_broken",
            "file_number integer, line_number bigint, reason varchar, line varchar",
            reasons,
        )
        self.con.execute(
            """update ga4_judged set reason = b.reason, line = b.line from ga4_broken as b
            where ga4_judged.file_number = b.file_number
              and ga4_judged.line_number = b.line_number"""
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

    def _check_files_whole(self, numbered: list[tuple[date, Path]], policy: Ga4DayPolicy) -> None:
        """A file whose last line has no newline and is not JSON was cut short (a copy or an
        export that stopped): a truncation, not one bad line."""
        for file_number, (day, path) in enumerate(numbered):
            if _ends_with_newline(path):
                continue
            (reason,) = self.con.execute(
                "select reason from ga4_judged where file_number = ? and not blank "
                "order by line_number desc limit 1",
                [file_number],
            ).fetchone() or (None,)
            if reason == "unparsable JSON":
                policy.check_whole(day, str(path))

    def _check_bad_shares(self, policy: Ga4DayPolicy) -> None:
        for day, lines, bad in self.con.execute(
            "select export_date, count(*), count(reason) from ga4_judged group by 1 order by 1"
        ).fetchall():
            if policy.too_many_bad(lines, bad):
                first_bad = self.con.execute(
                    """select source_file, line_number, reason, left(line, 160)
                    from ga4_judged join ga4_files using (file_number)
                    where export_date = ? and reason is not null
                    order by file_number, line_number limit 1""",
                    [day],
                ).fetchone()
                policy.refuse_corrupt(day, lines, bad, first_bad)

    def _check_volumes(self, days: list[date], policy: Ga4DayPolicy) -> None:
        usable = dict.fromkeys(days, 0) | dict(
            self.con.execute(
                "select export_date, count(*) from ga4_judged where reason is null group by 1"
            ).fetchall()
        )
        first = min(days)
        before = dict(
            self.con.execute(
                f"select export_date, count(*) from {EVENTS} "
                "where export_date >= ? and export_date < ? group by 1",
                [first - timedelta(days=policy.RECENT_DAYS), first],
            ).fetchall()
        )
        policy.check_volumes(usable, before)

    def _read_stats(self, shapes: dict[int, ShapeReport]) -> Ga4LoadStats:
        """Lines read and quarantined, and every field the usable lines hold, with its kinds."""
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
        fields: dict[str, set[str]] = defaultdict(set)
        for report in shapes.values():
            for path, kinds in report.fields.items():
                fields[path] |= kinds
            stats.unknown_fields |= report.unknown
        stats.schema = {f"field:{path}": "|".join(sorted(kinds)) for path, kinds in fields.items()}
        return stats

    def _write_quarantine(self) -> None:
        not_utf8 = self.con.execute(
            """select file_number, line_number, byte_offset from ga4_judged
            where reason = 'not valid UTF-8' order by file_number, line_number"""
        ).fetchall()
        self._keep(
            "ga4_raw_bytes",
            "file_number integer, line_number bigint, raw_bytes blob",
            [
                [f, n, read_lines_at(self.paths[f], [offset])[0]]  # rare: read one by one
                for f, n, offset in not_utf8
            ],
        )
        self.con.execute(
            f"""insert into {QUARANTINE} by name
            select export_date, source_file, line_number, reason, line as raw_record,
                   raw_bytes, ? as _loaded_at
            from ga4_judged join ga4_files using (file_number)
            left join ga4_raw_bytes using (file_number, line_number)
            where reason is not null""",
            [self.loaded_at],
        )

    def _write_rejected_values(self) -> int:
        """The rejected values of the lines that land (not those of a duplicate line)."""
        return self.con.execute(
            f"""insert into {REJECTED_VALUES} by name
            select j.export_date, f.source_file, r.line_number, r.field, r.value,
                   r.expected as expected_type, ? as _loaded_at
            from ga4_rejected as r
            join ga4_files as f using (file_number)
            join ga4_judged as j using (file_number, line_number)
            where (r.file_number, r.line_number) not in (
                  select (file_number, line_number) from ga4_skipped)""",
            [self.loaded_at],
        ).fetchone()[0]

    def _list_unknown_lines(self, shapes: dict[int, ShapeReport]) -> list[str]:
        """The top-level fields that hold something the schema does not know, and (in
        `ga4_unknown_lines`) which of them each line of such a shape holds."""
        unknown = {shape: sorted(r.unknown) for shape, r in shapes.items() if r.unknown}
        self._keep("ga4_unknown_shapes", "shape ubigint, fields varchar[]", list(unknown.items()))
        self.con.execute(
            """create or replace temp table ga4_unknown_lines as
            select file_number, line_number, fields
            from ga4_judged join ga4_unknown_shapes using (shape)"""
        )
        return sorted(set().union(*unknown.values()))

    def _land(self, numbered: list[tuple[date, Path]], unknown_fields: list[str]) -> None:
        ga4_lines = window_lines(numbered)  # noqa: F841 (read by name in the SQL)
        lines = "ga4_lines"
        if unknown_fields:  # the fields each line must keep: a join with a short list
            lines = """(select ga4_lines.*, u.fields as unknown_here from ga4_lines
                     left join ga4_unknown_lines as u using (file_number, line_number))"""
        self.con.execute(
            f"""insert into {EVENTS}
            select unnest(json_transform(line, '{self.structure}')),
                   {_unknown_fields_sql(unknown_fields)}, export_date, ?
            from {lines}
            -- NOT IN hashes the short list: an anti join would hash the lines instead
            where (file_number, line_number) not in (
                  select (file_number, line_number) from ga4_skipped)""",
            [self.loaded_at],
        )

    def _landed_stats(self, stats: Ga4LoadStats, first: date, last: date) -> None:
        for day, rows, cookieless in self.con.execute(
            f"select export_date, count(*), count(*) - count(user_pseudo_id) from {EVENTS} "
            "where export_date >= ? and export_date <= ? group by 1",
            [first, last],
        ).fetchall():
            stats.rows += rows
            stats.cookieless_events += cookieless
            stats.duplicates -= rows
            stats.rows_by_day[day.isoformat()] = rows
        stats.schema |= dict(
            self.con.execute(
                _LANDED_SQL.format(events=EVENTS), {"first": first, "last": last}
            ).fetchall()
        )


def _unknown_fields_sql(names: list[str]) -> str:
    """`_unknown_fields` of a landing line: those of the top-level fields `names` that hold,
    in this line (`unknown_here`), something the schema does not know, as the export wrote them."""
    if not names:
        return "null::json"
    keys = "[" + ", ".join(f"'{name}'" for name in names) + "]"
    paths = "[" + ", ".join(f"""'$."{name}"'""" for name in names) + "]"
    return f"""case when unknown_here is not null then to_json(map_from_entries(list_filter(
               list_zip({keys}, json_extract(line, {paths})),
               lambda field: field[2] is not null and list_contains(unknown_here, field[1]))))
          end"""


class DuckDBGa4Loader(Ga4Loader):
    """The local export files into the local DuckDB warehouse."""

    warehouse: DuckDBWarehouse
    export: LocalGA4Export

    def load_window(self, days: list[date], policy: Ga4DayPolicy = LOAD_EVERY_DAY) -> Ga4LoadStats:
        files = {day: self.export.day_files(day) for day in days}  # fails before touching anything
        structure = duckdb_json_structure()
        with self.warehouse.connect() as con:
            con.execute("begin transaction")
            for table, columns in (
                (EVENTS, EVENTS_COLUMNS),
                (QUARANTINE, QUARANTINE_COLUMNS),
                (REJECTED_VALUES, REJECTED_VALUES_COLUMNS),
            ):
                ensure_table(con, table, columns)
                con.execute(
                    f"delete from {table} where export_date >= ? and export_date <= ?",
                    [min(days), max(days)],
                )
            load = Ga4WindowLoad(con, structure, con.execute("select now()").fetchone()[0])
            try:
                stats = load.load(files, policy)
            except dg.Failure:
                con.execute("rollback")  # every day of the window stays as it was
                raise
            con.execute("commit")
        return stats
