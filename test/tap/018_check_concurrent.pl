# TAP: omendb_check on a healthy index never reports corruption while
# other sessions change it.
#
# omendb_check takes only AccessShareLock, so inserts (which add nodes
# and node pages, reuse free slots and rewrite neighbour lists), deletes,
# updates and VACUUM (which marks nodes deleted, takes them out of the
# graph, frees their slots and frees heap line pointers) run while it
# reads.  Its claims are made to hold anyway (see "Verification" in
# src/README.omendb): every row its snapshot sees has exactly one live
# node with the right code; every neighbour it reads is a node it read,
# and one it read as a free slot was reused since; no live node it read
# points at a freed line pointer unless VACUUM marked the node meanwhile.
# Here pgbench clients write and vacuum while other clients run
# omendb_check with the heap check, in READ COMMITTED and REPEATABLE
# READ: any error fails the run.  A second phase checks the index after
# every VACUUM while inserts add pages: no live node may keep an edge to
# a slot the VACUUM freed.  A third runs checks beside VACUUMs that refit
# the quantizer.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('check_concurrent',
	conf => ['autovacuum = off', 'max_connections = 30']);
my $db = 'postgres';

# 16 pseudo-random elements in [0, 1) from the row id (deterministic).
sub vec_sql
{
	my ($id) = @_;
	return "(SELECT array_agg((hashint4($id * 16 + j) & 65535) / 65536.0)::real[] FROM generate_series(0, 15) j)";
}

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16), note text);
INSERT INTO items SELECT i, @{[ vec_sql('i') ]}, NULL FROM generate_series(1, 3000) i;
CREATE INDEX items_l2 ON items USING omendb (v) WITH (graph_degree = 8, build_list_size = 16);
CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops) WITH (graph_degree = 8, build_list_size = 16)
	WHERE id % 2 = 0;
CREATE SEQUENCE next_id START 100001;
});

$node->pgbench(
	'--no-vacuum --client=6 --jobs=3 --time=12',
	0,
	[qr{processed: [1-9]}],
	[qr{^$}],
	'writers, VACUUM and omendb_check with the heap check, concurrently: no errors',
	{
		'016_insert.sql@6' => qq{
INSERT INTO items SELECT i, @{[ vec_sql('i') ]}, NULL FROM (SELECT nextval('next_id')::int AS i) s;
},
		'016_change.sql@4' => qq{
\\set id random(1, 3000)
DELETE FROM items WHERE id = :id;
UPDATE items SET v = @{[ vec_sql(':id + 50000') ]} WHERE id = :id + 1;
UPDATE items SET note = 'hot' WHERE id = :id + 2;
},
		'016_vacuum.sql@1' => q{
VACUUM items;
},
		'016_check.sql@2' => q{
SELECT nodes FROM omendb_check('items_l2', true);
SELECT nodes FROM omendb_check('items_cos', true);
},
		'016_check_rr.sql@1' => q{
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT nodes FROM omendb_check('items_l2', true);
SELECT nodes FROM omendb_check('items_cos', true);
COMMIT;
},
	});

# And once everything has settled, the counts add up: one live node per
# row the index holds.  (INDEX_CLEANUP ON: a VACUUM that finds few dead
# rows may otherwise leave the index alone.)
$node->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) items');
is( $node->safe_psql($db, "SELECT live_nodes FROM omendb_check('items_l2', true)"),
	$node->safe_psql($db, 'SELECT count(*) FROM items'),
	'afterwards items_l2 has one live node per row');
is( $node->safe_psql($db, "SELECT live_nodes FROM omendb_check('items_cos', true)"),
	$node->safe_psql($db, 'SELECT count(*) FROM items WHERE id % 2 = 0'),
	'afterwards the partial index items_cos has one live node per row it covers');

# Thirty seconds of eight clients inserting into table, deleting from it
# (weight $delete_weight against the inserts' 10) and running the scripts
# of %more; then one live node per row once a VACUUM has settled it.  The
# table's rows take ids from the sequence ${table}_id and vectors from
# ${table}_vec(id).
sub churn_and_check
{
	my ($table, $name, $delete_weight, %more) = @_;
	$node->pgbench(
		'--no-vacuum --client=8 --jobs=2 --time=30',
		0,
		[qr{processed: [1-9]}],
		[qr{^$}],
		$name,
		{
			"018_${table}_insert.sql\@10" => qq{
\\set n random(1, 3)
INSERT INTO $table SELECT i, ${table}_vec(i) FROM (SELECT nextval('${table}_id')::int AS i FROM generate_series(1, :n)) s;
},
			"018_${table}_delete.sql\@$delete_weight" => qq{
\\set r random(1, 1000000000)
DELETE FROM $table WHERE id = 1 + :r % (SELECT last_value FROM ${table}_id);
},
			%more
		});
	$node->safe_psql($db, "VACUUM (INDEX_CLEANUP ON) $table");
	omendb_check_ok($node, $db, "${table}_v",
		"afterwards ${table}_v passes omendb_check with one live node per row",
		heapallindexed => 1,
		live_nodes => $node->safe_psql($db, "SELECT count(*) FROM $table"));
	return;
}

# VACUUM's cleanup counts the node pages, waits for the backends that may
# still hold a deleted node as live, then takes every edge into it out
# of every list.  An insert it waited for may have added a page in the
# meantime and put a node there that links to a deleted node: that page
# must be repaired too, or once the slot is freed a live node points at
# it.  Wide nodes (few to a page, so inserts add pages often) and long
# insert searches (so an insert that met a node live often ends after
# VACUUM counted the pages) make the race frequent: a repair of only the
# pages counted before the wait fails this phase in most runs.
$node->safe_psql(
	$db, q{
CREATE FUNCTION wide_vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT array_agg((hashint4(id * 256 + j) & 65535) / 65536.0)::real[]::vector
   FROM generate_series(0, 255) j $$;
CREATE TABLE wide (id int PRIMARY KEY, v vector(256) NOT NULL);
INSERT INTO wide SELECT i, wide_vec(i) FROM generate_series(1, 2000) i;
CREATE INDEX wide_v ON wide USING omendb (v) WITH (graph_degree = 64, build_list_size = 600);
CREATE SEQUENCE wide_id START 2001;
});
churn_and_check('wide',
	'inserts adding pages while VACUUM frees deleted nodes, each VACUUM followed by omendb_check: no live node links to a free slot',
	4,
	'018_wide_vacuum.sql@1' => q{
VACUUM wide;
SELECT nodes FROM omendb_check('wide_v');
});

# A refit changes the meta page's parameter set, its epoch and whether a
# refit is under way: omendb_check, reading the meta page before and after
# the node pages, must not take that for damage.  An index created empty
# over vectors whose range grows with the id clamps new codes all the
# time, so that most VACUUMs refit while checks run beside them (a check
# that compares the refit's fields fails this phase in most runs).
$node->safe_psql(
	$db, q{
CREATE FUNCTION drift_vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT array_agg(((hashint4(id * 64 + j) & 65535) / 65536.0) * (1 + id / 100.0))::real[]::vector
   FROM generate_series(0, 63) j $$;
CREATE TABLE drift (id int PRIMARY KEY, v vector(64) NOT NULL);
CREATE INDEX drift_v ON drift USING omendb (v) WITH (build_list_size = 200);
CREATE SEQUENCE drift_id;
});
churn_and_check('drift', 'omendb_check beside VACUUMs that refit the quantizer: no errors',
	3,
	'018_drift_vacuum.sql@1' => "VACUUM drift;\n",
	'018_drift_check.sql@2' => "SELECT nodes FROM omendb_check('drift_v', true);\n");

unlike(slurp_file($node->logfile), qr/terminated by signal|PANIC|is corrupted/,
	'server log: no crash and no corruption reported');

$node->stop;
done_testing();
