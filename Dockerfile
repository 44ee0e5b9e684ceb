# One image for the four services and the worker; the command picks the process.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app/libs/hdms-platform/src:/app/libs/hdms-tools/src
# PostgreSQL's client tools of the server's major version (17, PGDG's repository): pg_dump refuses
# a newer server, and `make backup` in compose (the backup service) runs pg_dump and pg_restore.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
       > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update && apt-get install -y --no-install-recommends postgresql-client-17 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
# hdms-tools is in the image for the backup service's command only; no service imports it.
RUN pip install --no-cache-dir --no-deps -e libs/hdms-platform -e libs/hdms-tools && useradd --system --uid 10001 hdms \
    && mkdir -p /var/lib/hdms/media && chown hdms /var/lib/hdms/media
# Static files (the API docs' CSS and JS) collected into each service's STATIC_ROOT; whitenoise serves them.
RUN for s in user ticket communication file; do \
      STATIC_ROOT=services/$s-service/staticfiles DJANGO_SETTINGS_MODULE=hdms_platform.static_build \
      django-admin collectstatic --noinput -v 0; \
    done
USER hdms
