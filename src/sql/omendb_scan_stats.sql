
-- Counters of this backend's omendb index scans: see "Per-query counters:
-- omendb_scan_stats" in README.md.  Backend-local, so parallel workers
-- (which keep their own) may not run them.
CREATE FUNCTION omendb_scan_stats(
	OUT scope text, OUT scans bigint, OUT nodes_met bigint,
	OUT nodes_expanded bigint, OUT pages_pinned bigint,
	OUT rows_returned bigint, OUT rows_rechecked bigint,
	OUT late_rows bigint, OUT swept_rows bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED ROWS 2;
COMMENT ON FUNCTION omendb_scan_stats() IS
	'counters of this backend''s omendb index scans: the last scan to end (one run of a rescanned scan) and the sum since the backend started or omendb_scan_stats_reset()';

CREATE FUNCTION omendb_scan_stats_reset() RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION omendb_scan_stats_reset() IS
	'zero this backend''s omendb_scan_stats() counters, both scopes';
