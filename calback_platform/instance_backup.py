"""Back up Dagster's own state: the instance's PostgreSQL database, dumped nightly with a retention.

The instance holds what the warehouse cannot rebuild: run history, the event log that says which
partitions were materialized and when, check results, schedule and sensor state, and backfills.
The job dumps it with `pg_dump` (custom format, compressed) into `backup_dir` and deletes dumps
older than `keep_days`. Restore with `calback restore-instance DUMP` (restore_instance): it
replaces the tables of the database the instance config points at.

The connection is the instance's own (its run storage's URL), so nothing here reads the
environment; the password reaches pg_dump and pg_restore through theirs (settings'
child_environment), never a command line or a log.
"""

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dagster as dg

from calback_platform.schedules import nightly_schedule
from calback_platform.settings import child_environment

JOB_NAME = "back_up_instance"
_STAMP = "%Y%m%dT%H%M%SZ"
_PREFIX = "dagster-instance-"


class BackupConfig(dg.Config):
    backup_dir: str
    keep_days: int


def postgres_url(instance: dg.DagsterInstance) -> str:
    url = getattr(instance.run_storage, "postgres_url", None)
    if not url:
        raise dg.Failure(
            "This instance does not keep its state in PostgreSQL (see deploy/dagster.yaml): "
            "there is nothing for back_up_instance to dump."
        )
    return url


def _client_env(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments for `url`, with the password in the environment only."""
    parts = urlsplit(url)
    arguments = [
        f"--host={parts.hostname}",
        f"--port={parts.port or 5432}",
        f"--username={unquote(parts.username or '')}",
        f"--dbname={parts.path.lstrip('/')}",
    ]
    return arguments, child_environment({"PGPASSWORD": unquote(parts.password or "")})


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise dg.Failure(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def dump_instance(url: str, backup_dir: Path, now: datetime) -> Path:
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"{_PREFIX}{now:{_STAMP}}.dump"
    partial = target.with_suffix(".partial")  # a dump cut short is never taken for a backup
    arguments, env = _client_env(url)
    _run(["pg_dump", "--format=custom", f"--file={partial}", *arguments], env, "pg_dump")
    partial.rename(target)
    return target


def delete_old_dumps(backup_dir: Path, cutoff: datetime) -> list[Path]:
    deleted = []
    for dump in sorted(backup_dir.glob(f"{_PREFIX}*.dump")):
        stamp = datetime.strptime(dump.stem.removeprefix(_PREFIX), _STAMP)
        if stamp.replace(tzinfo=timezone.utc) < cutoff:
            dump.unlink()
            deleted.append(dump)
    return deleted


def restore_instance(dump: Path, url: str) -> None:
    """Replace the instance database's tables with those of `dump`. Stop the webserver and the
    daemon first: they would write into the database while it is replaced."""
    arguments, env = _client_env(url)
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            *arguments,
            str(dump),
        ],
        env,
        "pg_restore",
    )


def build_backup_job(backup_dir: str, keep_days: int) -> dg.JobDefinition:
    @dg.op(name="dump_instance_database")
    def dump_op(context: dg.OpExecutionContext, config: BackupConfig):
        if config.keep_days < 1:
            raise dg.Failure(
                f"keep_days={config.keep_days} would delete every dump: use 1 or more."
            )
        now = datetime.now(timezone.utc)
        directory = Path(config.backup_dir)
        dump = dump_instance(postgres_url(context.instance), directory, now)
        deleted = delete_old_dumps(directory, now - timedelta(days=config.keep_days))
        context.log.info(f"Dumped the instance to {dump}; deleted {len(deleted)} older dump(s).")
        return dg.Output(
            str(dump),
            metadata={
                "dump": str(dump),
                "size_bytes": dump.stat().st_size,
                "deleted_dumps": len(deleted),
                "keep_days": config.keep_days,
            },
        )

    @dg.job(
        name=JOB_NAME,
        config={
            "ops": {
                "dump_instance_database": {
                    "config": {"backup_dir": backup_dir, "keep_days": keep_days}
                }
            }
        },
        executor_def=dg.in_process_executor,
        description=(
            f"Dump Dagster's PostgreSQL database into {backup_dir} and delete dumps older than "
            f"{keep_days} days (restore: calback restore-instance DUMP)."
        ),
    )
    def back_up_instance():
        dump_op()

    return back_up_instance


def build_backup_schedule(job: dg.JobDefinition, running: bool) -> dg.ScheduleDefinition:
    # 04:30 Seoul: after the history clean-up (03:30), so the dump is of the trimmed database.
    return nightly_schedule(job, "30 4 * * *", running, "Dump Dagster's own database every night.")
