# The worker and the webhook for production: no sandboxes (q2c-sandbox, sqlglot) and no dev tools.
FROM python:3.11-slim
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
RUN pip install --no-cache-dir .
ENTRYPOINT ["q2c"]
