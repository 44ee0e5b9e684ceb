# One image for the four services, their workers, relays and jobs; the command picks the process.
# Debian trixie: Python 3.13 and PostgreSQL 17's client tools (pg_dump must match the server's major,
# POSTGRES_IMAGE) from Debian's own packages. BASE_IMAGE is debian:trixie-slim from Docker Hub, or
# the offline set's debootstrap base (make images).
ARG BASE_IMAGE=debian:trixie-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# .build/pip-ca.crt exists only when `make images` hands over the host's CA bundle (a network that
# intercepts TLS); the glob lets the build go on without it. It stays in this stage.
COPY requirements-runtime.lock .build/pip-ca.cr[t] /build/
RUN python3 -m venv /opt/hdms \
    && if [ -f /build/pip-ca.crt ]; then export PIP_CERT=/build/pip-ca.crt; fi \
    && /opt/hdms/bin/pip install --no-cache-dir --disable-pip-version-check -r /build/requirements-runtime.lock \
    && /opt/hdms/bin/pip uninstall -y -q pip \
    && /opt/hdms/bin/python -m compileall -q -j 0 /opt/hdms/lib

FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends python3 postgresql-client-17 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /app hdms \
    && install -d -o hdms -g hdms -m 0750 /var/lib/hdms/media /backups \
    && install -d -o hdms -g hdms -m 0700 /run/hdms-metrics
COPY --from=build /opt/hdms /opt/hdms
ARG HDMS_COMMIT=unknown
ENV PATH=/opt/hdms/bin:/usr/lib/postgresql/17/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app/libs/hdms-platform/src:/app/libs/hdms-tools/src HDMS_COMMIT=${HDMS_COMMIT}
WORKDIR /app
# Code only (.dockerignore lists what may come in): owned by root, read-only to the hdms user.
COPY . .
# Static files (the API docs' CSS and JS) collected into each service's STATIC_ROOT; whitenoise serves them.
# The four sets are the same files: collected once, hard-linked into the other three.
RUN STATIC_ROOT=services/user-service/staticfiles DJANGO_SETTINGS_MODULE=hdms_platform.conf.static_build \
      django-admin collectstatic --noinput -v 0 \
    && for s in ticket communication file; do cp -al services/user-service/staticfiles services/$s-service/staticfiles; done \
    && python -m compileall -q -j 0 libs services
# Byte code compiled above, at build time: the code is read-only at run time, and without it every
# process of every container compiles Django and the rest from source at each start (minutes on 2 cores).
USER hdms
