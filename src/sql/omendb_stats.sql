
-- A cheap, read-only health summary of an omendb index: the meta page's
-- node counters, the insert page and a sample of at most 32 node pages,
-- never the whole index (see "Index statistics: omendb_index_stats" in
-- README.md).  Callable by whoever may SELECT from the index's table: the
-- function checks that privilege itself.
CREATE FUNCTION omendb_index_stats(index regclass,
	OUT heap_rows float8, OUT nodes bigint,
	OUT live_nodes bigint, OUT deleted_nodes bigint, OUT free_nodes bigint,
	OUT bytes bigint, OUT bytes_per_live_row float8,
	OUT dimensions int, OUT metric text, OUT quantizer text, OUT bits int,
	OUT quantizer_trained boolean, OUT code_bytes int, OUT node_bytes int,
	OUT store_vectors boolean,
	OUT graph_degree int, OUT max_degree int, OUT build_list_size int,
	OUT alpha float4,
	OUT sampled_nodes bigint, OUT mean_degree float8,
	OUT clamped_fraction float8, OUT mean_error_ratio float8,
	OUT entry_node bigint,
	OUT vacuum_deleted bigint, OUT vacuum_freed bigint,
	OUT vacuum_repaired bigint, OUT vacuum_linked bigint,
	OUT walk_rate float4, OUT signature_bits int)
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
GRANT EXECUTE ON FUNCTION omendb_index_stats(regclass) TO PUBLIC;
COMMENT ON FUNCTION omendb_index_stats(regclass) IS
	'summary of an omendb index from its meta page and a sample of its node pages: node slots, live, deleted and free nodes, size, build parameters and options, sampled out-degree and quantizer fitness, what the last VACUUM cleanup did, the walk rate the planner uses, and the bits an array element sets in its signatures; for whoever may SELECT from its table';
