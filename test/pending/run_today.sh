#!/bin/bash
# Run omendb_known_bugs.sql against the dev cluster (psql as pg_regress does).
P="psql -h /tmp/omendev -p 55432 -U postgres -X"
$P -qc "drop database if exists kb" -c "create database kb" >/dev/null 2>&1
$P -d kb -qc "create extension omendb"
$P -d kb -a -q < /work/omendb-pending/sql/omendb_known_bugs.sql > /work/omendb-pending/actual_today.out 2>&1
