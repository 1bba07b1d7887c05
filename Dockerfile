# syntax=docker/dockerfile:1
# The image of every service: SERVICE says which (a directory of services.toml). Build from
# the repository root, so that servicekit can be installed, as docker-compose.yml does:
#   docker build --build-arg SERVICE=post_service -t microservices/post_service .
# One image runs every role of its service; docker-compose.yml picks the command
# (gunicorn, migrate, relay_outbox, consume_events, ensure_topics). Runtime settings come
# from the environment only: no .env and no secret is copied into the image.
ARG PYTHON_IMAGE=python:3.11-slim

# --- source: the files of the service SERVICE names. A missing or unknown SERVICE stops
# the build here, with the list of services. The later stages copy the service's files
# from this one, so nothing can fail before the check (a COPY of "${SERVICE}/..." from
# the context could, with "not found" for a path nobody wrote).
FROM ${PYTHON_IMAGE} AS source
ARG SERVICE
RUN --mount=type=bind,target=/context python - "$SERVICE" /context /service <<'PICK'
import shutil
import sys
import tomllib
from pathlib import Path

service, context, target = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with (context / "services.toml").open("rb") as file:
    services = list(tomllib.load(file))
if service not in services:
    sys.exit(f"SERVICE={service!r}: build with --build-arg SERVICE=<one of {', '.join(services)}>")
shutil.copytree(context / service, target)
PICK

# --- build: a virtualenv with the service's pinned requirements and servicekit, nothing else
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY --from=source /service/requirements.txt /build/requirements.txt
COPY servicekit /build/servicekit
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/pip install -r /build/requirements.txt /build/servicekit

# --- runtime -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG SERVICE
LABEL org.opencontainers.image.title="${SERVICE}"
ENV PATH=/opt/venv/bin:$PATH \
    STATIC_ROOT=/app/staticfiles \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root and read-only for the app user; tests and local files are excluded by
# .dockerignore.
COPY --from=source /service/ ./
# Static files (admin, Swagger UI) into STATIC_ROOT. The settings need secrets to load:
# throwaway random ones for this one command, kept nowhere.
RUN SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(48))') \
    JWT_SIGNING_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(48))') \
    python manage.py collectstatic --no-input --verbosity 0 \
    && python -m compileall -q /app
USER app:app
EXPOSE 8000
# The web server, as docker-compose.yml and `make run` start it.
CMD ["gunicorn", "config.wsgi:application", "--config", "python:servicekit.gunicorn_conf", "--bind=0.0.0.0:8000"]
