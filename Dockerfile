FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY q2c q2c
COPY workflows workflows
COPY activities activities
COPY starter starter
COPY worker.py ./
RUN pip install --no-cache-dir .
ENTRYPOINT ["q2c"]
