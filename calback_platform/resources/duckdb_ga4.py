"""Landing a window of GA4 export files in DuckDB: streamed a block of lines at a time.

Each block (about 16 MB of lines, split by Arrow) is judged, deduplicated against the lines already
landed and inserted, all in set-based SQL; Python never looks at a line. Memory holds a block,
never a day, and the whole window lands in one transaction (the caller's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from calback_platform.resources.ga4_schema import GA4_EVENT_SCHEMA, GA4_REQUIRED_FIELDS
from calback_platform.resources.warehouse import Ga4LoadStats, raise_corrupt_export

EVENTS = "raw_ga4.events"
QUARANTINE = "raw_ga4.events_quarantine"
_LINE_BLOCK_BYTES = 16 * 1024 * 1024
# What judging a line needs: its required fields only, a fraction of a full parse.
_REQUIRED_STRUCTURE = json.dumps({name: GA4_EVENT_SCHEMA[name] for name in GA4_REQUIRED_FIELDS})
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Top-level field types are profiled on every SAMPLE_EVERY-th line; the keys themselves on all.
SAMPLE_EVERY = 20


def line_blocks(path: Path, block_bytes: int = _LINE_BLOCK_BYTES) -> Iterator[pa.Table]:
    """A text file's lines as Arrow tables of (line_number, line), about `block_bytes` each:
    Arrow splits each block in C++; Python only finds the last newline of a block."""
    first_line = 1
    with path.open("rb") as source:
        rest = b""
        while True:
            data = source.read(block_bytes)
            block = rest + data
            if not data:
                if not block:
                    return
                cut = len(block)  # the last line, without a newline
            else:
                cut = block.rfind(b"\n") + 1
                if not cut:
                    rest = block  # a line longer than a block: read on
                    continue
            rest = block[cut:]
            text = block[:cut].removesuffix(b"\n").decode("utf-8", errors="replace")
            lines = pc.list_flatten(pc.split_pattern(pa.array([text]), "\n"))
            numbers = pa.array(range(first_line, first_line + len(lines)), pa.int64())
            first_line += len(lines)
            yield pa.table({"line_number": numbers, "line": lines})
            if not data:
                return


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


# The shape of what was read, for schema-drift checks: JSON types of top-level fields (one
# multi-path json_extract per sampled line; `?` is the exact list of keys seen), and the event
# names and parameter value types of the rows landed.
_SCHEMA_SQL = """
    with fields as (
        select 'field:' || unnest(?::varchar[]) as name,
               unnest(list_transform(json_extract(line, {paths}), lambda v: json_type(v))) as kind
        from ga4_sample
    ),
    landed as (
        select event_name, event_params from {events}
        where export_date >= ? and export_date <= ?
    ),
    events as (select distinct 'event:' || event_name as name, 'event' as kind from landed),
    params as (
        select 'param:' || p.key as name,
               case when p.value.string_value is not null then 'string'
                    when p.value.int_value is not null then 'int'
                    when coalesce(p.value.double_value, p.value.float_value) is not null
                        then 'double'
                    else 'null' end as kind
        from (select unnest(event_params) as p from landed)
    )
    select name, string_agg(distinct kind, '|' order by kind)
    from (select * from fields union all select * from events union all select * from params)
    where kind is not null  -- a key the line does not have
    group by name
"""


class Ga4WindowLoad:
    """One window's days, landed into `raw_ga4.events` on an open transaction of `con`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, structure: str, loaded_at: datetime):
        self.con, self.structure, self.loaded_at = con, structure, loaded_at
        self.stats = Ga4LoadStats()
        con.execute(
            "create or replace temp table ga4_seen "
            "(export_date date, line_hash ubigint, line_length bigint)"
        )
        con.execute(
            """create or replace temp table ga4_bad (export_date date, source_file varchar,
                line_number bigint, reason varchar, line varchar)"""
        )
        con.execute("create or replace temp table ga4_sample (line varchar)")
        con.execute("create or replace temp table ga4_keys (key varchar)")

    def load_day(self, day: date, paths: list[Path], max_bad_share: float) -> None:
        """Land a day's files; a day with too many unusable lines fails the whole window."""
        lines = usable = 0
        for path in paths:
            self.stats.files.append(str(path))
            for block in line_blocks(path):
                block_lines, block_usable = self._load_block(block, str(path), day)
                lines += block_lines
                usable += block_usable
        if lines and (lines - usable) / lines > max_bad_share:
            first_bad = self.con.execute(
                "select source_file, line_number, reason, left(line, 160) from ga4_bad "
                "where export_date = ? order by source_file, line_number limit 1",
                [day],
            ).fetchall()[0]
            raise_corrupt_export(day, lines, lines - usable, max_bad_share, first_bad)
        self.stats.source_lines += lines
        self.stats.duplicates += usable  # less the rows landed, counted in `finish`

    def _load_block(self, block: pa.Table, source_file: str, day: date) -> tuple[int, int]:
        con = self.con
        con.register("block", block)
        # The judged block is kept as Arrow, not as a temp table: replacing a table once per
        # block inside the window's transaction costs more than the judging itself.
        judged = con.sql(
            f"""
            with parsed as (
                select line_number, line, ?::date as export_date,
                       case when json_valid(line)
                            then json_transform(line, '{_REQUIRED_STRUCTURE}') end as r
                from block
                where trim(line) <> ''
            )
            select line_number, line, hash(line) as line_hash, length(line) as line_length,
                   {_reason_sql()} as reason
            from parsed""",
            params=[day],
        ).to_arrow_table()
        con.unregister("block")
        con.register("ga4_block", judged)
        # An exact duplicate is a line already landed for the day, or seen earlier in the block:
        # the same 64-bit hash and length (two different lines alike in both: about 1 in 10^12
        # for a year of events).
        con.execute(
            f"""insert into {EVENTS}
            select unnest(json_transform(line, '{self.structure}')), ?::date, ?
            from (
                select any_value(line) as line from ga4_block as b
                where reason is null
                  and not exists (
                      select 1 from ga4_seen as s
                      where s.export_date = ? and s.line_hash = b.line_hash
                        and s.line_length = b.line_length)
                group by line_hash, line_length
            )""",
            [day, self.loaded_at, day],
        )
        con.execute(
            "insert into ga4_seen select distinct ?::date, line_hash, line_length from ga4_block "
            "where reason is null",
            [day],
        )
        con.execute(
            "insert into ga4_bad select ?::date, ?, line_number, reason, line from ga4_block "
            "where reason is not null",
            [day, source_file],
        )
        con.execute(
            f"insert into ga4_sample select line from ga4_block "
            f"where reason is null and line_number % {SAMPLE_EVERY} = 1"
        )
        con.execute(
            "insert into ga4_keys select distinct unnest(json_keys(line)) from ga4_block "
            "where reason is null"
        )
        # fetchall: a half-read result would block the next block's register().
        return con.execute(
            "select count(*), count(*) filter (where reason is null) from ga4_block"
        ).fetchall()[0]

    def finish(self, first: date, last: date) -> Ga4LoadStats:
        """Quarantine the unusable lines and count what landed for [first, last]."""
        con, stats = self.con, self.stats
        con.execute(
            f"insert into {QUARANTINE} select export_date, source_file, line_number, reason, "
            "line, ? from ga4_bad",
            [self.loaded_at],
        )
        for day, rows in con.execute(
            f"select export_date, count(*) from {EVENTS} "
            "where export_date >= ? and export_date <= ? group by 1",
            [first, last],
        ).fetchall():
            stats.rows += rows
            stats.duplicates -= rows
            stats.rows_by_day[day.isoformat()] = rows
        for reason, count in con.execute(
            "select split_part(reason, ':', 1), count(*) from ga4_bad group by 1"
        ).fetchall():
            stats.quarantined[reason] += count
        keys = [
            key
            for (key,) in con.execute("select distinct key from ga4_keys").fetchall()
            if _PLAIN_KEY.fullmatch(key)  # a key that could not be a JSON path is not typed
        ]
        paths = "[" + ", ".join(f"'$.{key}'" for key in keys) + "]" if keys else "[]::varchar[]"
        stats.schema = dict(
            con.execute(
                _SCHEMA_SQL.format(paths=paths, events=EVENTS), [keys, first, last]
            ).fetchall()
        )
        return stats
