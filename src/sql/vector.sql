-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION omendb" to load this file. \quit

-- The vector type: see src/vector.c.
