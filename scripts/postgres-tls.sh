#!/usr/bin/env bash
# Gives the machine's PostgreSQL a certificate for 127.0.0.1 and localhost, signed by a CA
# made here, and turns TLS on, so the team server's tests can connect with
# sslmode=verify-full. Prints the CA's path (for MANDATE_TEST_POSTGRES_CA).
# Needs a superuser connection ($1, e.g. postgres://root@127.0.0.1:5432) and openssl.
set -euo pipefail
base="${1:-postgres://root@127.0.0.1:5432}"
dir=/var/lib/mandate-test-pg-tls
if [ ! -s "$dir/server.key" ]; then
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mandate test PostgreSQL CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>/dev/null
  chmod 0755 "$dir"
  if id postgres >/dev/null 2>&1; then chown postgres "$dir/server.key" "$dir/server.pem"; fi
  chmod 0600 "$dir/server.key"
fi
psql "$base/postgres" -qAtc "ALTER SYSTEM SET ssl = on" \
  -c "ALTER SYSTEM SET ssl_cert_file = '$dir/server.pem'" \
  -c "ALTER SYSTEM SET ssl_key_file = '$dir/server.key'" \
  -c "SELECT pg_reload_conf()" >/dev/null
echo "$dir/ca.pem"
