# syntax=docker/dockerfile:1
# The Calback code location. One image runs all of production: by default the code server
# (gRPC on 4000); with another command the webserver (dagster-webserver), the daemon
# (dagster-daemon run) and, under Kubernetes, each run's pod. See docker-compose.yaml and
# deploy/helm/values.yaml.
#
#   docker build -t calback-platform:$(git rev-parse --short HEAD) .
# Debian trixie: its PostgreSQL client (17) can dump the instance's PostgreSQL 16 (pg_dump must be
# at least the server's version).
FROM python:3.11-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home

# pg_dump and pg_restore, for the nightly dump of the instance database (back_up_instance).
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --shell /usr/sbin/nologin dagster \
 && python -m venv "$VIRTUAL_ENV"

WORKDIR /opt/dagster/app

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
# The install is editable on purpose: calback_platform finds dbt_project/ beside itself
# (settings.PROJECT_ROOT) and reads checks/checks.yaml, which a wheel does not ship; the source
# tree copied below is the package. dagster-k8s is what the Kubernetes run launcher and its run
# pods need (deploy/helm/values.yaml); the webserver comes with the project's dependencies.
COPY pyproject.toml README.md ./
RUN mkdir calback_platform \
 && touch calback_platform/__init__.py \
 && pip install --editable . "dagster-k8s>=0.29,<0.30"

COPY calback_platform ./calback_platform
COPY dbt_project ./dbt_project
COPY deploy/workspace.yaml ./deploy/workspace.yaml
COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml

# Bake the manifest in, parsed for the prod (BigQuery) target the runs use: `dagster dev` is
# the only place that parses dbt at start-up (DESIGN 6). Parsing needs no connection.
# The code stays root's (read-only at run time); dbt writes its target/ and logs/, Dagster its
# DAGSTER_HOME (compute logs under storage/, a volume in docker-compose.yaml).
RUN CALBACK_ENV=prod calback prepare-dbt \
 && rm -rf dbt_project/logs \
 && mkdir -p "$DAGSTER_HOME/storage" /opt/dagster/backups \
 && chown dagster:dagster /opt/dagster \
 && chown -R dagster:dagster dbt_project "$DAGSTER_HOME" /opt/dagster/backups

# Numeric, so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 4000 3000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "calback_platform.definitions"]
