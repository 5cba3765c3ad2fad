# TAP: omendb indexes behind postgres_fdw: a coordinator whose table is
# hash-partitioned over foreign tables on two shard servers.
#
# Each shard has an omendb index on its part of the rows.  An omendb scan
# returns rows in exact distance order, so a Merge Append of the shards'
# ordered scans (the ORDER BY shipped in each shard's remote SQL) is an
# exact merge: the top k of the coordinator equals the top k of one server
# holding every row, and the exact answer of a sequential scan.  The
# shards' scans are made exhaustive (omendb.search_list_size = 10000, more
# than their node slots, set for the coordinator's connections through the
# server's libpq options), so that each stream's order is exact whatever
# the graph's shape (README.md, "Settings"); the single server's reference
# searches the same way.  What is pinned down:
#
#   * with the server options of README.md, "Scaling out" (extensions
#     'omendb', and use_remote_estimate 'false', or 'true' with
#     fdw_tuple_cost '0.2'), the planner itself takes the Merge Append of
#     the shards' ordered foreign scans for ORDER BY distance LIMIT k: a
#     literal query vector, a parameter of a generic plan, the outer row
#     of a LATERAL join, with a WHERE clause; no enable_* setting;
#   * on a shard, the cursor postgres_fdw declares for that remote query
#     is an omendb index scan (a plain EXPLAIN of it, for every row, a
#     sort);
#   * the merged top 10 of 20 queries equals a single server's index
#     answer and a sequential scan's, ids and distances, in order;
#   * rows inserted, updated and deleted through the coordinator land on
#     the shard their hash routes them to, and the next query finds them
#     (or no longer finds them);
#   * with a shard down, a query that needs it fails with postgres_fdw's
#     connection error (SQLSTATE 08001) and returns no row, in a new
#     session and in one that had a connection to that shard; a query
#     pruned to the live shard still answers; after a restart everything
#     answers as before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $db = 'postgres';
my @shards = map { omen_node("shard$_") } (1, 2);
my $coord = omen_node('coordinator');

# 16-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i) = @_;
	return wave_vec_sql($i, 16) . '::vector(16)';
}

for my $shard (@shards)
{
	$shard->safe_psql(
		$db, q{
CREATE EXTENSION omendb;
CREATE TABLE items (id bigint PRIMARY KEY, category int NOT NULL, v vector(16));
});
}

# The coordinator: omendb for the type and operators (shipped to the
# shards because of extensions 'omendb'), a foreign partition per shard,
# and a local table with every row as the single-server reference.
my $servers = '';
# postgres_fdw's async_capable and batch_size came with PostgreSQL 14.
my $fdw14 = $coord->safe_psql($db, 'SHOW server_version_num') >= 140000;
my $async = $fdw14 ? ", async_capable 'true'" : '';
my $batch = $fdw14 ? ", batch_size '500'" : '';
for my $n (0, 1)
{
	my $shard = $shards[$n];
	my $s = $n + 1;
	$servers .= qq{
CREATE SERVER shard$s FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '@{[ $shard->host ]}', port '@{[ $shard->port ]}', dbname '$db',
			 extensions 'omendb', use_remote_estimate 'false',
			 fetch_size '10'$async,
			 options '-c omendb.search_list_size=10000');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard$s;
CREATE FOREIGN TABLE items_s$s PARTITION OF items
	FOR VALUES WITH (MODULUS 2, REMAINDER $n)
	SERVER shard$s OPTIONS (table_name 'items'$batch);
};
}
$coord->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE EXTENSION postgres_fdw;
CREATE TABLE items (id bigint, category int NOT NULL, v vector(16)) PARTITION BY HASH (id);
$servers
INSERT INTO items SELECT i, i % 10, @{[ vec_sql('i') ]} FROM generate_series(1, 8000) i;
CREATE TABLE single (id bigint PRIMARY KEY, category int NOT NULL, v vector(16));
INSERT INTO single SELECT * FROM items;
CREATE INDEX single_v ON single USING omendb (v);
CREATE TABLE queries (qid int PRIMARY KEY, v vector(16));
INSERT INTO queries SELECT q, @{[ vec_sql('(q * 503 + 0.5)') ]} FROM generate_series(1, 20) q;
});

my @counts = map { $_->safe_psql($db, 'SELECT count(*) FROM items') } @shards;
ok($counts[0] > 3000 && $counts[1] > 3000 && $counts[0] + $counts[1] == 8000,
	"the 8,000 rows inserted through the coordinator are split over the shards (@counts)");

# Indexes built on the shards' data; statistics on every node (the
# coordinator's ANALYZE samples the foreign partitions through the FDW).
for my $shard (@shards)
{
	$shard->safe_psql($db, 'CREATE INDEX items_v ON items USING omendb (v); ANALYZE items');
}
$coord->safe_psql($db, 'ANALYZE single, queries, items, items_s1, items_s2');

my $q1 = $coord->safe_psql($db, 'SELECT v FROM queries WHERE qid = 1');

sub plan_verbose
{
	my ($sql, @settings) = @_;
	my $pre = join('', map { "$_;\n" } @settings);
	return $coord->safe_psql($db, "${pre}EXPLAIN (COSTS OFF, VERBOSE) $sql");
}

# The plan: a Limit over a Merge Append of the two foreign scans, each
# shipping the ORDER BY to its shard; no Sort on the coordinator.
sub merge_plan_ok
{
	my ($sql, $what, @settings) = @_;
	my $plan = plan_verbose($sql, @settings);
	my $ok =
		 $plan =~ /Limit\n.*\n\s*->  Merge Append\n/
	  && $plan !~ /^\s*(->  )?(Incremental )?Sort$/m
	  && (() = $plan =~ /Foreign Scan on public\.items_s\d/g) == 2
	  && (() = $plan =~ /Remote SQL: SELECT .* ORDER BY \(v OPERATOR\(public\.<->\)/g) == 2;
	ok($ok, "$what: the plan is a Merge Append of the shards' ordered foreign scans")
	  or diag($plan);
	return $plan;
}

merge_plan_ok("SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10",
	'ORDER BY <-> literal LIMIT 10');
merge_plan_ok("SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 100",
	'ORDER BY <-> literal LIMIT 100');
my $plan = merge_plan_ok(
	"SELECT id FROM items WHERE category = 3 ORDER BY v <-> '$q1' LIMIT 10",
	'with WHERE category = 3');
like($plan, qr/Remote SQL: SELECT .* WHERE \(\(category = 3\)\) ORDER BY/,
	'with WHERE category = 3: the filter is shipped to the shards too');
merge_plan_ok("EXECUTE knn('$q1')", 'prepared statement, generic plan',
	'PREPARE knn(vector) AS SELECT id FROM items ORDER BY v <-> $1 LIMIT 10',
	'SET plan_cache_mode = force_generic_plan');

# What makes the merge stream: postgres_fdw reads each remote query
# through a cursor, which a shard plans for its first tenth of rows
# (cursor_tuple_fraction), and for that omendb's cost takes the index; for
# every row, as a plain EXPLAIN plans the query, a sort is cheaper (and is
# faster), so the estimate stays honest.
my $remote_sql = "SELECT id, category, v FROM public.items "
  . "ORDER BY (v OPERATOR(public.<->) '$q1'::public.vector) ASC NULLS LAST";
for my $shard (@shards)
{
	my $name = $shard->name;
	like(
		$shard->safe_psql(
			$db, "BEGIN;\nEXPLAIN (COSTS OFF) DECLARE c CURSOR FOR $remote_sql;\nCOMMIT;"),
		qr/^\s*Index Scan using items_v on items\n/m,
		"$name: a cursor over the ordered remote query streams from the omendb index");
	like(
		plan_of($shard, $db, $remote_sql),
		qr/^Sort\n(?:.*\n)*\s*->  Seq Scan on items$/m,
		"$name: the same query for all its rows is a sequential scan and a sort");
}

# use_remote_estimate 'true' costs each shard's ordered scan by that plain
# EXPLAIN: the Merge Append starts at the sum of the shards' sorts, and
# fetching every row to sort it on the coordinator looks cheaper at
# postgres_fdw's default fdw_tuple_cost (0.01 a row; PostgreSQL 17 made it
# 0.2).  At 0.2, closer to what a fetched row costs, the planner merges.
$coord->safe_psql($db,
	join('', map { "ALTER SERVER shard$_ OPTIONS (SET use_remote_estimate 'true', ADD fdw_tuple_cost '0.2');\n" } 1, 2));
merge_plan_ok("SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10",
	'use_remote_estimate true, fdw_tuple_cost 0.2: ORDER BY <-> literal LIMIT 10');
merge_plan_ok("SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 100",
	'use_remote_estimate true, fdw_tuple_cost 0.2: LIMIT 100');
merge_plan_ok(
	"SELECT id FROM items WHERE category = 3 ORDER BY v <-> '$q1' LIMIT 10",
	'use_remote_estimate true, fdw_tuple_cost 0.2: with WHERE category = 3');
merge_plan_ok("EXECUTE knn('$q1')", 'use_remote_estimate true, fdw_tuple_cost 0.2: generic plan',
	'PREPARE knn(vector) AS SELECT id FROM items ORDER BY v <-> $1 LIMIT 10',
	'SET plan_cache_mode = force_generic_plan');
$coord->safe_psql($db,
	join('', map { "ALTER SERVER shard$_ OPTIONS (SET use_remote_estimate 'false', DROP fdw_tuple_cost);\n" } 1, 2));

# The top 10 of every query, ids and distances in order, as text.
sub answers
{
	my ($table, $filter, @settings) = @_;
	my $pre = join('', map { "$_;\n" } 'SET omendb.search_list_size = 10000', @settings);
	my $where = $filter ? "WHERE $filter" : '';
	return $coord->safe_psql(
		$db, qq{${pre}
SELECT q.qid,
	   (SELECT string_agg(id || ':' || d, ',')
		FROM (SELECT t.id, t.v <-> q.v AS d FROM $table t $where ORDER BY t.v <-> q.v LIMIT 10) s)
FROM queries q ORDER BY q.qid});
}

like(
	plan_of(
		$coord, $db,
		'SELECT q.qid, n.id FROM queries q CROSS JOIN LATERAL '
		  . '(SELECT t.id FROM items t ORDER BY t.v <-> q.v LIMIT 10) n'),
	qr/Nested Loop\n.*\n\s*->  Limit\n\s*->  Merge Append\n(?:.*\n)*.*Foreign Scan on items_s1.*\n(?:.*\n)*.*Foreign Scan on items_s2/,
	'LATERAL top 10 per query row: a Merge Append of the foreign scans, rescanned per query'
);

# The exact answers: a sequential scan of the single table.
sub exact { return answers('single', $_[0], 'SET enable_indexscan = off', 'SET enable_bitmapscan = off') }

sub compare_all
{
	my ($what) = @_;
	my $sharded = answers('items');
	my $nq = () = $sharded =~ /^\d+\|\d+:/mg;
	is($nq, 20, "$what: each of 20 queries has an answer from the shards");
	is($sharded, answers('single'),
		"$what: the shards' merged top 10 equals the single server's index answer");
	is($sharded, exact(), "$what: ... and the exact answer of a sequential scan");
	is(answers('items', 'category = 3'), exact('category = 3'),
		"$what: with WHERE category = 3, the merged top 10 is exact");
}
compare_all('after the build');

# The same rows in local hash partitions, each with its own omendb index:
# the planner merges the partitions' index scans in the same way.
$coord->safe_psql(
	$db, q{
CREATE TABLE local_items (id bigint, category int NOT NULL, v vector(16)) PARTITION BY HASH (id);
CREATE TABLE local_items_0 PARTITION OF local_items FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE local_items_1 PARTITION OF local_items FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE local_items_2 PARTITION OF local_items FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE local_items_3 PARTITION OF local_items FOR VALUES WITH (MODULUS 4, REMAINDER 3);
INSERT INTO local_items SELECT * FROM single;
CREATE INDEX ON local_items USING omendb (v);
ANALYZE local_items;
});
$plan = plan_of($coord, $db, "SELECT id FROM local_items ORDER BY v <-> '$q1' LIMIT 10");
ok( $plan =~ /^Limit\n\s*->  Merge Append\n/
	  && (() = $plan =~ /Index Scan using local_items_\d_v_idx on local_items_\d/g) == 4
	  && $plan !~ /^\s*(->  )?Sort$/m,
	'local hash partitions: the plan is a Merge Append of the four partitions\' index scans')
  or diag($plan);
is(answers('local_items'), exact(),
	'local hash partitions: the merged top 10 is the exact answer of a sequential scan');

# Writes through the coordinator: each inserted row duplicates a query
# vector, so it is that query's nearest row, at distance 0.
$coord->safe_psql(
	$db, q{
INSERT INTO items SELECT 20000 + qid, qid % 10, v FROM queries WHERE qid <= 6;
INSERT INTO single SELECT 20000 + qid, qid % 10, v FROM queries WHERE qid <= 6;
});
my $routed = $coord->safe_psql($db,
	"SELECT string_agg(id || ':' || tableoid::regclass, ',' ORDER BY id) FROM items WHERE id > 20000");
my $landed = join(',',
	sort map { my $s = $_ + 1; map { "$_:items_s$s" } split(/\n/, $shards[$_]->safe_psql($db,
		'SELECT id FROM items WHERE id > 20000 ORDER BY id')) } (0, 1));
is(scalar(split(/,/, $landed)), 6, 'the 6 rows inserted through the coordinator are on the shards');
is($landed, $routed, 'each inserted row is on the shard its hash routes it to');
like($routed, qr/items_s1/, 'some inserted rows went to shard 1');
like($routed, qr/items_s2/, 'some inserted rows went to shard 2');
is( $coord->safe_psql(
		$db, q{
SELECT string_agg(q.qid || '=' || (SELECT t.id || ':' || (t.v <-> q.v) FROM items t ORDER BY t.v <-> q.v LIMIT 1), ',' ORDER BY q.qid)
FROM queries q WHERE q.qid <= 6}),
	join(',', map { "$_=" . (20000 + $_) . ':0' } 1 .. 6),
	'each inserted row is its query\'s nearest row through the coordinator, at distance 0');

# An update moves a row away from its query, a delete removes one.
my $minus = "'[" . join(',', (-1) x 16) . "]'";
$coord->safe_psql(
	$db, qq{
UPDATE items SET v = v * $minus WHERE id = 20001;
UPDATE single SET v = v * $minus WHERE id = 20001;
DELETE FROM items WHERE id = 20002;
DELETE FROM single WHERE id = 20002;
});
is( $coord->safe_psql(
		$db, q{
SELECT string_agg(q.qid || '=' || (SELECT t.id FROM items t ORDER BY t.v <-> q.v LIMIT 1), ',' ORDER BY q.qid)
FROM queries q WHERE q.qid <= 3}),
	'1=' . $coord->safe_psql($db,
		'SELECT t.id FROM single t, queries q WHERE q.qid = 1 ORDER BY t.v <-> q.v LIMIT 1')
	  . ',2=' . $coord->safe_psql($db,
		'SELECT t.id FROM single t, queries q WHERE q.qid = 2 ORDER BY t.v <-> q.v LIMIT 1')
	  . ',3=20003',
	'after the update and the delete, queries 1 and 2 find the nearest remaining rows, query 3 still its own');
unlike($coord->safe_psql($db, 'SELECT id FROM items WHERE id IN (20001, 20002) ORDER BY id'),
	qr/20002/, 'the row deleted through the coordinator is gone');
compare_all('after inserts, an update and a delete through the coordinator');

# A shard down.  A session that already holds a connection to it ...
my $held = $coord->background_psql($db, on_error_stop => 0);
$held->query_safe('\set VERBOSITY verbose');
like($held->query_safe("SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10) s"),
	qr/^10$/, 'a session queries both shards before one goes down');
my $live_id = $shards[0]->safe_psql($db, 'SELECT min(id) FROM items');
$shards[1]->stop('fast');

my $knn = "SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10";
my ($ret, $out, $err) =
  $coord->psql($db, $knn, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($ret, 0, 'shard 2 down: a query needing it fails in a new session');
is($out, '', 'shard 2 down: ... and returns no row');
like($err, qr/ERROR:  08001: could not connect to server "shard2"/,
	'shard 2 down: ... with postgres_fdw\'s connection error, SQLSTATE 08001')
  or diag($err);

($ret, $out, $err) = $coord->psql($db,
	"SELECT id FROM items WHERE category = 3 ORDER BY v <-> '$q1' LIMIT 10");
isnt($ret, 0, 'shard 2 down: a filtered query needing it fails too');
is($out, '', 'shard 2 down: ... and returns no row');

$held->{stderr} = '';
my ($held_out) = $held->query($knn);
is($held_out, '', 'shard 2 down: a session with a cached connection to it gets no row');
like($held->{stderr}, qr/ERROR:  08001: could not connect to server "shard2"|ERROR:  08006:/,
	'shard 2 down: ... but a connection error')
  or diag($held->{stderr});

is( $coord->safe_psql($db,
		"SELECT id FROM items WHERE id = $live_id ORDER BY v <-> '$q1' LIMIT 10"),
	$live_id, 'shard 2 down: a query pruned to shard 1 still answers');

$shards[1]->start;
$held->{stderr} = '';
like($held->query_safe("SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10) s"),
	qr/^10$/, 'shard 2 back: the session that saw the error queries both shards again');
$held->quit;
compare_all('shard 2 restarted');

for my $shard (@shards)
{
	omendb_check_ok($shard, $db, 'items_v', $shard->name . ': omendb_check passes',
		heapallindexed => 1);
	unlike(slurp_file($shard->logfile), qr/PANIC|terminated by signal/,
		$shard->name . ': no crash in the server log');
}
unlike(slurp_file($coord->logfile), qr/PANIC|terminated by signal/,
	'coordinator: no crash in the server log');

$_->stop for ($coord, @shards);
done_testing();
