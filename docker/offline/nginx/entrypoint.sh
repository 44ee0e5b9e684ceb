#!/bin/sh
# The upstream nginx image's template step: each /etc/nginx/templates/X.template becomes
# /etc/nginx/conf.d/X with only the variables matching NGINX_ENVSUBST_FILTER substituted.
set -eu
filter="${NGINX_ENVSUBST_FILTER:-}"
names=$(env | cut -d= -f1 | grep -E "${filter:-.}" | sed 's/^/${/; s/$/}/' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
  [ -f "$template" ] || continue
  out="/etc/nginx/conf.d/$(basename "$template" .template)"
  envsubst "$names" < "$template" > "$out"
  echo "templates: rendered $out"
done
exec "$@"
