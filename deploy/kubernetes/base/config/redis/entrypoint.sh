#!/bin/sh
# Compose: render the ACL users (config/redis/users.acl) from the environment, then run Redis.
# The same template the native launcher fills in; the default user stays off.
set -eu
umask 077
: "${REDIS_ADMIN_PASSWORD:?REDIS_ADMIN_PASSWORD is required}"
: "${REDIS_METRICS_PASSWORD:?REDIS_METRICS_PASSWORD is required}"
: "${REDIS_CACHE_PASSWORD:?REDIS_CACHE_PASSWORD is required}"
: "${REDIS_CHANNELS_PASSWORD:?REDIS_CHANNELS_PASSWORD is required}"
: "${REDIS_BROKER_PASSWORD:?REDIS_BROKER_PASSWORD is required}"
sed -e "s|\${REDIS_ADMIN_PASSWORD}|$REDIS_ADMIN_PASSWORD|" -e "s|\${REDIS_METRICS_PASSWORD}|$REDIS_METRICS_PASSWORD|" -e "s|\${REDIS_CACHE_PASSWORD}|$REDIS_CACHE_PASSWORD|" \
    -e "s|\${REDIS_CHANNELS_PASSWORD}|$REDIS_CHANNELS_PASSWORD|" -e "s|\${REDIS_BROKER_PASSWORD}|$REDIS_BROKER_PASSWORD|" \
    /hdms/users.acl | grep '^user ' > /tmp/users.acl
exec redis-server /usr/local/etc/redis/redis.conf --aclfile /tmp/users.acl --maxmemory "${REDIS_MAXMEMORY:-256mb}"
