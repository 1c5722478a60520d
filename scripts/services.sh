#!/usr/bin/env bash
# Make sure the services the tests use are up: PostgreSQL on 127.0.0.1:5432 and Java 17 for Spark.
# In CI (CI=true) a missing service is an error, never a silent skip.
set -u
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$ver" ] && pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 1 20); do pg_up && break; sleep 0.5; done
  fi
fi
if pg_up; then
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" \
    2>/dev/null | grep -q 1 || createdb -h 127.0.0.1 -U postgres test 2>/dev/null || true
  echo "services: PostgreSQL up on 127.0.0.1:5432"
else
  echo "services: PostgreSQL is NOT running on 127.0.0.1:5432" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
if ! command -v java >/dev/null 2>&1; then
  echo "services: installing Java 17 for Spark" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) || true
fi
if command -v java >/dev/null 2>&1; then
  echo "services: $(java -version 2>&1 | head -n 1)"
else
  echo "services: Java is missing; Spark tests cannot run" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
# the PostgreSQL JDBC driver, for the Spark metastore on PostgreSQL (not shipped with pyspark)
if [ ! -f /usr/share/java/postgresql.jar ] && command -v apt-get >/dev/null 2>&1; then
  echo "services: installing the PostgreSQL JDBC driver (libpostgresql-jdbc-java)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpostgresql-jdbc-java >/dev/null) || true
fi
if [ -f /usr/share/java/postgresql.jar ]; then
  echo "services: PostgreSQL JDBC driver /usr/share/java/postgresql.jar"
else
  echo "services: the PostgreSQL JDBC driver is missing; the Spark metastore test cannot run" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
