# syntax=docker/dockerfile:1
# Baton sync daemon. Build: docker build -t baton .
# Run: docker run --init --env-file .env -p 8910:8910 -v baton-data:/var/lib/baton baton
# The store (SQLite by default) lives in the volume: without it, recreating the container loses
# dead letters, decisions and first-entered times. The install steps below are the ones
# .ci/image-install-check replays (no Docker engine exists in CI).

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/baton
COPY requirements/runtime.txt requirements/runtime.txt
RUN /opt/baton/bin/pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY baton baton
COPY connectors connectors
COPY mappings mappings
COPY sync sync
COPY sandbox sandbox
RUN /opt/baton/bin/pip install --no-deps .

FROM python:3.11.7-slim-bookworm
LABEL org.opencontainers.image.title="baton" \
      org.opencontainers.image.description="HubSpot <-> Salesforce funnel sync daemon"
RUN groupadd --system --gid 10001 baton \
 && useradd --system --uid 10001 --gid baton --home-dir /var/lib/baton --create-home baton
COPY --from=build /opt/baton /opt/baton
ENV PATH="/opt/baton/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    BATON_HTTP_HOST=0.0.0.0 \
    BATON_HTTP_PORT=8910 \
    BATON_DATABASE_URL=sqlite:////var/lib/baton/baton.db
USER 10001:10001
WORKDIR /var/lib/baton
VOLUME ["/var/lib/baton"]
EXPOSE 8910
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os,urllib.request,sys; port = os.environ.get('BATON_HTTP_PORT', '8910'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["baton"]
CMD ["run"]
