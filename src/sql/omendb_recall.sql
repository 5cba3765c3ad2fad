
-- Recall measurement: see "Measuring recall: omendb_recall" in README.md.
--
-- Everything runs with the caller's privileges (SECURITY INVOKER): the
-- queries read the table like any other query, so a role that may not
-- SELECT its indexed column gets the usual permission error.  The body
-- names no object of this extension, whose schema may change (it is
-- relocatable): the table, the indexed key and the ordering operator come
-- from the catalogs, schema-qualified, and reach the scans as dynamic SQL.

-- The measurement behind both forms of omendb_recall: the given query
-- vectors, or (when they are NULL) "sample" vectors drawn from the rows the
-- index covers, each excluded from its own answers.
CREATE FUNCTION omendb_recall_measure(index regclass, query_vectors vector[],
	sample int, k int, target float8,
	OUT recall float8, OUT recall_low float8, OUT recall_high float8,
	OUT queries int, OUT search_list_size int,
	OUT suggested_search_list_size int)
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER PARALLEL UNSAFE
AS $body$
DECLARE
	am_name name;
	index_kind "char";
	index_name name;
	heap text;					-- FROM item: ONLY schema.table
	query_alias text;			-- the queries' alias: not the table's name
	index_key text;				-- the indexed column or expression
	index_pred text;			-- a partial index's predicate, else true
	order_op text;				-- the opclass's ordering operator
	query_type text;			-- its right operand's type (pgvector's
								-- for omendb_pgvector's classes)
	auto_list int;				-- the list a setting of 0 chooses (omendb.h)
	max_list int;				-- the setting's largest value
	query_tids tid[];			-- the sampled rows, NULL for given vectors
	kth float8[];				-- each query's exact k-th distance
	fewest bigint;				-- fewest exact neighbours of any query
	exact_sql text;
	approx_sql text;
	covered boolean;
	plan jsonb;
	scanned name;				-- the index the plan scans
	saved_seqscan text;
	saved_sort text;
	saved_list text;
	list_size int;
	direction int := 0;			-- 0: current setting; 1: up; -1: down
	hits bigint;
	measured float8;
	z constant float8 := 1.959963984540054;	-- two-sided 95% normal quantile
	centre float8;
	half float8;
BEGIN
	-- the two forms are strict; only this worker sees NULLs
	IF index IS NULL OR k IS NULL OR target IS NULL OR
		(query_vectors IS NULL AND sample IS NULL) THEN
		RAISE EXCEPTION 'omendb_recall_measure takes NULL only for one of query_vectors and sample'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c.relkind, c.relname, a.amname INTO index_kind, index_name, am_name
	FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam
	WHERE c.oid = index;
	IF index_kind = 'I' AND am_name = 'omendb' THEN
		RAISE EXCEPTION '"%" is a partitioned index', index
			USING ERRCODE = 'wrong_object_type',
			HINT = 'Measure the index of one partition.';
	END IF;
	IF index_kind IS DISTINCT FROM 'i' OR am_name IS DISTINCT FROM 'omendb' THEN
		RAISE EXCEPTION '"%" is not an omendb index', index
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT (SELECT indisvalid FROM pg_index WHERE indexrelid = index) THEN
		RAISE EXCEPTION 'index "%" is not valid', index
			USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'A CREATE INDEX CONCURRENTLY that failed leaves it so: REINDEX it.';
	END IF;
	IF k < 1 THEN
		RAISE EXCEPTION 'k must be at least 1, not %', k
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- NaN fails the upper bound: it compares above every number
	IF NOT (target > 0 AND target <= 1) THEN
		RAISE EXCEPTION 'target must be above 0 and at most 1, not %', target
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF query_vectors IS NULL AND sample < 1 THEN
		RAISE EXCEPTION 'sample must be at least 1, not %', sample
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF cardinality(query_vectors) = 0 THEN
		RAISE EXCEPTION 'queries must hold at least one vector'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT FROM unnest(query_vectors) q WHERE q IS NULL) THEN
		RAISE EXCEPTION 'queries must not contain NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;

	SELECT format('ONLY %I.%I', tn.nspname, t.relname),
		   CASE WHEN t.relname = 'omendb_q' THEN 'omendb_query' ELSE 'omendb_q' END,
		   '(' || pg_get_indexdef(i.indexrelid, 1, true) || ')',
		   coalesce('(' || pg_get_expr(i.indpred, i.indrelid) || ')', 'true'),
		   format('OPERATOR(%I.%s)', opn.nspname, o.oprname),
		   format('%I.%I', tyn.nspname, ty.typname),
		   CASE WHEN sp.proname IN ('omendb_metric_ip', 'omendb_metric_pgvector_ip')
				THEN 160 ELSE 40 END
	INTO heap, query_alias, index_key, index_pred, order_op, query_type, auto_list
	FROM pg_index i
	JOIN pg_class t ON t.oid = i.indrelid
	JOIN pg_namespace tn ON tn.oid = t.relnamespace
	JOIN pg_opclass oc ON oc.oid = i.indclass[0]
	JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoppurpose = 'o'
		AND ao.amoplefttype = oc.opcintype AND ao.amoprighttype = oc.opcintype
	JOIN pg_operator o ON o.oid = ao.amopopr
	JOIN pg_namespace opn ON opn.oid = o.oprnamespace
	JOIN pg_type ty ON ty.oid = o.oprright
	JOIN pg_namespace tyn ON tyn.oid = ty.typnamespace
	LEFT JOIN pg_amproc ap ON ap.amprocfamily = oc.opcfamily AND ap.amprocnum = 1
		AND ap.amproclefttype = oc.opcintype AND ap.amprocrighttype = oc.opcintype
	LEFT JOIN pg_proc sp ON sp.oid = ap.amproc
	WHERE i.indexrelid = index;
	IF heap IS NULL THEN
		RAISE EXCEPTION 'index "%" has no ordering operator', index
			USING ERRCODE = 'wrong_object_type';
	END IF;

	-- Only rows the index holds can be its answers: a NULL key is not
	-- indexed, and a partial index holds only rows its predicate accepts.
	EXECUTE format('SELECT EXISTS (SELECT FROM %1$s WHERE %2$s IS NOT NULL AND %3$s)',
				   heap, index_key, index_pred)
		INTO STRICT covered;
	IF NOT covered THEN
		RAISE EXCEPTION 'index "%" covers no rows', index
			USING ERRCODE = 'object_not_in_prerequisite_state',
			DETAIL = 'The index holds the rows whose key is not NULL and, if it is partial, that its predicate accepts: the table has none.';
	END IF;

	-- One full scan draws the sample; the exact scans below cost far more.
	IF query_vectors IS NULL THEN
		EXECUTE format('SELECT array_agg(s.v), array_agg(s.tid) FROM '
					   '(SELECT %1$s AS v, ctid AS tid FROM %2$s WHERE %1$s IS NOT NULL AND %3$s '
					   'ORDER BY random() LIMIT $1) s',
					   index_key, heap, index_pred)
			INTO STRICT query_vectors, query_tids USING sample;
	END IF;
	queries := cardinality(query_vectors);

	-- The exact answers: the distance is computed under an OFFSET 0
	-- subquery, which the planner neither flattens nor pushes the ORDER BY
	-- into, so no index scan can supply the order; every row the index
	-- covers reaches the sort, whatever access path reads the table.  Only
	-- each query's k-th distance is kept: an index row within it is a hit,
	-- so rows tied at the k-th distance all count.  A sampled row is not
	-- its own neighbour.  The queries reach the operator as its right
	-- operand's type through their text form, which is exact: the classes
	-- of omendb_pgvector take pgvector's types, with no cast from ours.
	exact_sql := format(
		'SELECT array_agg(e.kth ORDER BY %5$s.i), min(e.n) '
		'FROM unnest($1::text::%6$s[], $2) WITH ORDINALITY AS %5$s(v, self, i) '
		'CROSS JOIN LATERAL (SELECT max(d) AS kth, count(*) AS n FROM '
		'(SELECT d FROM (SELECT ctid AS tid, %1$s %2$s %5$s.v AS d FROM %3$s '
		'WHERE %1$s IS NOT NULL AND %4$s OFFSET 0) s '
		'WHERE tid IS DISTINCT FROM %5$s.self ORDER BY d LIMIT $3) top) e',
		index_key, order_op, heap, index_pred, query_alias, query_type);
	EXECUTE exact_sql INTO STRICT kth, fewest USING query_vectors, query_tids, k;
	IF fewest < k AND query_tids IS NULL THEN
		RAISE EXCEPTION 'k (%) exceeds the % rows index "%" can return for a query',
			k, fewest, index
			USING ERRCODE = 'invalid_parameter_value';
	ELSIF fewest < k THEN
		RAISE EXCEPTION 'k (%) exceeds the % rows index "%" can return for a query',
			k, fewest, index
			USING ERRCODE = 'invalid_parameter_value',
			DETAIL = 'A sampled row is not counted as its own neighbour.';
	END IF;

	-- The approximate answers: the index scan, ordered by the same
	-- expression, fetching one row more for a sampled query so that
	-- dropping the query's own row leaves k.
	approx_sql := format(
		'SELECT sum(a.hits) '
		'FROM unnest($1::text::%6$s[], $2, $3) AS %5$s(v, self, kth) '
		'CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE d <= %5$s.kth) AS hits FROM '
		'(SELECT d FROM (SELECT ctid AS tid, %1$s %2$s %5$s.v AS d FROM %3$s '
		'WHERE %1$s IS NOT NULL AND %4$s ORDER BY d LIMIT $5) s '
		'WHERE tid IS DISTINCT FROM %5$s.self ORDER BY d LIMIT $4) top) a',
		index_key, order_op, heap, index_pred, query_alias, query_type);

	-- The exact scan above ran the extension's operators, so its library
	-- is loaded and its settings are defined.
	saved_seqscan := current_setting('enable_seqscan');
	saved_sort := current_setting('enable_sort');
	saved_list := current_setting('omendb.search_list_size');
	SELECT max_val::int INTO STRICT max_list
	FROM pg_settings WHERE name = 'omendb.search_list_size';
	search_list_size := CASE WHEN saved_list::int > 0 THEN saved_list::int ELSE auto_list END;

	-- Steer the planner to the index: with sequential scans and sorts
	-- priced out, only an index scan supplies the order.  Another omendb
	-- index on the same key and operator class could still be preferred,
	-- so each setting's plan is checked to scan this index.
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('enable_sort', 'off', true);

	-- The current setting first; if it reaches the target, halve down to k
	-- while the target still holds, else double up to the setting's largest
	-- value until it is reached.  Recall grows with the list, near enough
	-- that the sweep stops at the first setting on the other side.
	list_size := search_list_size;
	LOOP
		PERFORM set_config('omendb.search_list_size', list_size::text, true);
		EXECUTE 'EXPLAIN (FORMAT JSON) ' || approx_sql INTO STRICT plan
			USING query_vectors, query_tids, kth, k,
				  k::bigint + (query_tids IS NOT NULL)::int;
		scanned := jsonb_path_query_first(plan,
										  '$.** ? (@."Node Type" == "Index Scan")."Index Name"') #>> '{}';
		IF scanned IS DISTINCT FROM index_name THEN
			RAISE EXCEPTION 'the planner does not scan index "%" for its queries', index
				USING ERRCODE = 'object_not_in_prerequisite_state',
				DETAIL = CASE WHEN scanned IS NULL THEN 'It scans no index.'
					ELSE format('It scans index "%s" on the same key and operator class.', scanned) END;
		END IF;
		EXECUTE approx_sql INTO STRICT hits
			USING query_vectors, query_tids, kth, k,
				  k::bigint + (query_tids IS NOT NULL)::int;
		measured := hits::float8 / (queries::float8 * k);

		IF direction = 0 THEN
			recall := measured;
			direction := CASE WHEN measured >= target THEN -1 ELSE 1 END;
			IF direction < 0 THEN
				suggested_search_list_size := list_size;
			END IF;
		ELSIF direction > 0 THEN
			IF measured >= target THEN
				suggested_search_list_size := list_size;
				EXIT;
			END IF;
		ELSE
			EXIT WHEN measured < target;
			suggested_search_list_size := list_size;
		END IF;

		IF direction > 0 THEN
			EXIT WHEN list_size >= max_list;
			list_size := least(list_size::bigint * 2, max_list);
		ELSE
			EXIT WHEN list_size <= k;
			list_size := greatest(list_size / 2, k);
		END IF;
	END LOOP;

	PERFORM set_config('omendb.search_list_size', saved_list, true);
	PERFORM set_config('enable_sort', saved_sort, true);
	PERFORM set_config('enable_seqscan', saved_seqscan, true);

	-- The 95% Wilson score interval for a proportion over n = queries
	-- trials.  Recall is the mean of the queries' recalls, each in [0, 1];
	-- such a value x has x^2 <= x, so its variance is at most p (1 - p)
	-- for mean p, the variance of a single trial.  The interval for trials
	-- is therefore at least as wide as the mean needs: conservative.
	-- It speaks of the rows the queries were drawn from, not of queries
	-- unlike them.  Wilson's interval holds its recall; the clamps keep
	-- rounding from saying otherwise.
	centre := (recall + z * z / (2 * queries)) / (1 + z * z / queries);
	half := z / (1 + z * z / queries) *
		sqrt(recall * (1 - recall) / queries + z * z / (4 * queries::float8 * queries));
	recall_low := least(recall, greatest(0, centre - half));
	recall_high := greatest(recall, least(1, centre + half));
END
$body$;
COMMENT ON FUNCTION omendb_recall_measure(regclass, vector[], int, int, float8) IS
	'worker of omendb_recall: measures the given query vectors, or when they are NULL that many rows sampled from the index, each excluded from its own answers';

-- The two forms bind their call at creation (SQL-standard bodies), so they
-- find the worker wherever the extension is moved.
CREATE FUNCTION omendb_recall(index regclass, sample int DEFAULT 100,
	k int DEFAULT 10, target float8 DEFAULT 0.95,
	OUT recall float8, OUT recall_low float8, OUT recall_high float8,
	OUT queries int, OUT search_list_size int,
	OUT suggested_search_list_size int)
	LANGUAGE sql VOLATILE STRICT SECURITY INVOKER PARALLEL UNSAFE
BEGIN ATOMIC
	SELECT * FROM omendb_recall_measure(index, NULL, sample, k, target);
END;
COMMENT ON FUNCTION omendb_recall(regclass, int, int, float8) IS
	'recall@k of an omendb index at the current omendb.search_list_size, over vectors sampled from its rows, with a 95% interval and the smallest swept setting that reaches target (NULL if none); costs one exact scan of the table per query';

CREATE FUNCTION omendb_recall(index regclass, queries vector[],
	k int DEFAULT 10, target float8 DEFAULT 0.95,
	OUT recall float8, OUT recall_low float8, OUT recall_high float8,
	OUT queries int, OUT search_list_size int,
	OUT suggested_search_list_size int)
	LANGUAGE sql VOLATILE STRICT SECURITY INVOKER PARALLEL UNSAFE
BEGIN ATOMIC
	SELECT * FROM omendb_recall_measure(index, queries, NULL, k, target);
END;
COMMENT ON FUNCTION omendb_recall(regclass, vector[], int, float8) IS
	'recall@k of an omendb index at the current omendb.search_list_size, over the given query vectors, with a 95% interval and the smallest swept setting that reaches target (NULL if none); costs one exact scan of the table per query';
