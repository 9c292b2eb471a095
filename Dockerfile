# syntax=docker/dockerfile:1
# The images docker-compose.yml builds, one target each (devtools/compose_check.py checks that every
# build.target there is a stage here and that every COPY source exists):
#   q2c              the worker, the webhook, `q2c setup` and the codec server: no sandboxes (q2c-sandbox,
#                    sqlglot) and no dev tools. The default target (`docker build .`).
#   sandbox          the two local sandboxes alone (compose profile "sandboxes"); never q2c.
#   temporal-server  Temporal's server image with the `temporal` CLI beside it, for its health check
#                    (`temporal operator cluster health`): the server image ships no CLI.
ARG PYTHON_IMAGE=python:3.11-slim
ARG TEMPORAL_VERSION=1.32.0

FROM temporalio/admin-tools:${TEMPORAL_VERSION} AS temporal-cli

FROM temporalio/server:${TEMPORAL_VERSION} AS temporal-server
COPY --from=temporal-cli /usr/local/bin/temporal /usr/local/bin/temporal

FROM ${PYTHON_IMAGE} AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# One unprivileged user for both images, so the sandboxes' CA and server key (a volume the webhook may
# mount) are readable across them.
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin q2c

FROM python-base AS sandbox
COPY sandbox /src/sandbox
# /sandbox/tls exists (owned by q2c) so the sandbox-tls volume mounted there starts out writable.
RUN pip install /src/sandbox && rm -rf /src && mkdir -p /sandbox/tls && chown -R q2c:q2c /sandbox
USER q2c
# Serve both sandboxes on all interfaces, with a server certificate from their local CA that also names
# the compose host names (the sandboxes, and the webhook their outbound messages go to). The certificate
# is issued once into the data directory and reused while valid, as `q2c-sandbox` does.
ENV SANDBOX_DATA_DIR=/sandbox SANDBOX_BIND=0.0.0.0 SANDBOX_HOSTNAMES=sandboxes,webhook,localhost,127.0.0.1
ENTRYPOINT ["python", "-c", "import os, sys; from pathlib import Path; from q2c_sandbox.run import main; from q2c_sandbox.tls import ensure_server_cert; data = os.environ['SANDBOX_DATA_DIR']; ensure_server_cert(Path(data) / 'tls', tuple(os.environ['SANDBOX_HOSTNAMES'].split(','))); main(['--data-dir', data, '--host', os.environ['SANDBOX_BIND'], *sys.argv[1:]])"]

FROM python-base AS q2c
WORKDIR /app
COPY pyproject.toml README.md ./
COPY q2c q2c
COPY workflows workflows
COPY activities activities
COPY starter starter
COPY temporal_client temporal_client
COPY worker.py ./
# The SFDX and SDF projects the worker validates the mapping file against (q2c.domain.metadata looks in
# <sys.prefix>/share/q2c/metadata when q2c is installed rather than run from a checkout).
COPY metadata /usr/local/share/q2c/metadata
# /data (owned by q2c) is where the q2c-data volume goes: reports, backfill files.
RUN pip install . && mkdir /data && chown q2c:q2c /data
USER q2c
ENTRYPOINT ["q2c"]
