# TAP: omendb indexes across a crash (immediate shutdown, then crash
# recovery).
#
# - UNLOGGED tables: after the crash the table and its indexes are reset
#   to empty (from the init fork) and are usable: inserts are indexed and
#   found through index scans.
# - LOGGED tables: every row committed before the crash is found after
#   recovery by an index query for its own vector; rows of a transaction
#   open at the crash are not returned.  Also for an index built just
#   before the crash (no checkpoint since) and one built on an empty table
#   and trained by its first insert.
# - Recovery replays every generic record with wal_consistency_checking.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

# Without autovacuum: the exact live-node counts below count on VACUUM
# removing every dead row, which a concurrent autovacuum or autoanalyze
# snapshot can hold back (the rows stay dead but not removable, and their
# nodes live).
my $node = omen_node('crash',
	conf => ["wal_consistency_checking = 'generic'", 'autovacuum = off']);
my $db = 'postgres';

# 8-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i) = @_;
	return "(SELECT array_agg(sin($i * 0.7 * j + j) * 3 + cos($i * 0.013 * j))::real[] FROM generate_series(1, 8) j)";
}
my $vec_i = vec_sql('i');
my $q = "'[0.5,-1,2,0,1,-0.5,0.25,1]'";

# How many of the rows of $table with ids in [$lo, $hi] an index query for
# their own vector finds first.
sub found_themselves
{
	my ($table, $op, $lo, $hi) = @_;
	return $node->safe_psql(
		$db, qq{
SET enable_seqscan = off;
SELECT count(*) FROM $table t WHERE t.id BETWEEN $lo AND $hi
  AND t.id = (SELECT u.id FROM $table u ORDER BY u.v $op t.v LIMIT 1);
});
}

sub uses_index
{
	my ($table, $op, $index, $what) = @_;
	like(
		plan_of($node, $db, "SELECT id FROM $table ORDER BY v $op $q LIMIT 5",
			'SET enable_seqscan = off'),
		qr/Index Scan using $index\b/,
		$what);
}

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;

CREATE UNLOGGED TABLE u (id int PRIMARY KEY, v vector(8));
INSERT INTO u SELECT i, $vec_i FROM generate_series(1, 1000) i;
CREATE INDEX u_l2 ON u USING omendb (v);
CREATE INDEX u_cos ON u USING omendb (v vector_cosine_ops);
INSERT INTO u SELECT i, $vec_i FROM generate_series(1001, 1200) i;

CREATE UNLOGGED TABLE u_empty (id int PRIMARY KEY, v vector(8));
CREATE INDEX u_empty_l2 ON u_empty USING omendb (v);
INSERT INTO u_empty SELECT i, $vec_i FROM generate_series(1, 300) i;

CREATE TABLE l (id int PRIMARY KEY, v vector(8));
INSERT INTO l SELECT i, $vec_i FROM generate_series(1, 1000) i;
CREATE INDEX l_l2 ON l USING omendb (v);
CHECKPOINT;
});

is(found_themselves('u', '<->', 1, 1200), 1200,
	'unlogged table: every row found through the index before the crash');
is(found_themselves('u_empty', '<->', 1, 300), 300,
	'unlogged table, index built empty: every row found before the crash');

# After the checkpoint: committed inserts into the logged table, one row
# per statement and many per statement, and a delete.
for my $i (1001 .. 1050)
{
	$node->safe_psql($db, "INSERT INTO l SELECT $i, " . vec_sql($i));
}
$node->safe_psql(
	$db, qq{
INSERT INTO l SELECT i, $vec_i FROM generate_series(1051, 1500) i;
DELETE FROM l WHERE id % 10 = 0;
});

# A logged table whose index is built after the checkpoint, and one whose
# index was built empty and trained by its first insert.
$node->safe_psql(
	$db, qq{
CREATE TABLE l_new (id int PRIMARY KEY, v vector(8));
INSERT INTO l_new SELECT i, $vec_i FROM generate_series(1, 800) i;
CREATE INDEX l_new_cos ON l_new USING omendb (v vector_cosine_ops);
CREATE TABLE l_empty (id int PRIMARY KEY, v vector(8));
CREATE INDEX l_empty_ip ON l_empty USING omendb (v vector_ip_ops);
CREATE INDEX l_empty_l2 ON l_empty USING omendb (v);
INSERT INTO l_empty SELECT i, $vec_i FROM generate_series(1, 400) i;
});

# A transaction still open at the crash, having inserted rows.
my $open = $node->background_psql($db);
$open->query_safe(qq{BEGIN; INSERT INTO l SELECT i, $vec_i FROM generate_series(9001, 9100) i;});

$node->stop('immediate');
eval { $open->quit; };
$node->start;

# ---------------------------------------------------------------- unlogged

is($node->safe_psql($db, 'SELECT count(*) FROM u'), 0,
	'unlogged table is empty after the crash');
is( $node->safe_psql(
		$db, "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM u ORDER BY v <-> $q LIMIT 5) s"),
	0,
	'an index scan on the reset unlogged index returns nothing, without error');
is($node->safe_psql($db, 'SELECT count(*) FROM u_empty'), 0,
	'unlogged table with an index built empty is empty after the crash');

$node->safe_psql($db, qq{
INSERT INTO u SELECT i, $vec_i FROM generate_series(1, 400) i;
INSERT INTO u_empty SELECT i, $vec_i FROM generate_series(1, 400) i;
});
uses_index('u', '<->', 'u_l2', 'unlogged table after the crash: ORDER BY <-> uses its index');
uses_index('u', '<=>', 'u_cos', 'unlogged table after the crash: ORDER BY <=> uses its index');
is(found_themselves('u', '<->', 1, 400), 400,
	'unlogged table after the crash: new rows found through the L2 index');
is(found_themselves('u', '<=>', 1, 400), 400,
	'unlogged table after the crash: new rows found through the cosine index');
is(found_themselves('u_empty', '<->', 1, 400), 400,
	'unlogged table after the crash, index built empty: new rows found');

# ------------------------------------------------------------------ logged

is($node->safe_psql($db, 'SELECT count(*), count(*) FILTER (WHERE id > 9000) FROM l'),
	'1350|0', 'logged table: committed rows survive, the open transaction\'s do not');
uses_index('l', '<->', 'l_l2', 'logged table after the crash: ORDER BY <-> uses its index');
is(found_themselves('l', '<->', 1, 1000), 900,
	'logged table: rows indexed by the build are found after the crash');
is(found_themselves('l', '<->', 1001, 1500), 450,
	'logged table: rows committed after the last checkpoint are found after the crash');
is( $node->safe_psql(
		$db, "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM l ORDER BY v <-> $q LIMIT 2000) s WHERE id % 10 = 0 OR id > 9000"),
	0,
	'logged table: deleted rows and rows of the aborted transaction are not returned');
# That holds by MVCC whatever the index returns; the index side: after
# VACUUM, the nodes of the deleted rows and of the transaction open at the
# crash are flagged, and exactly one live node per row remains.
$node->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) l');
omendb_check_ok($node, $db, 'l_l2',
	'logged table after the crash and VACUUM: one live node for each of the 1350 rows',
	heapallindexed => 1,
	live_nodes => 1350);
is(found_themselves('l_new', '<=>', 1, 800), 800,
	'index built after the last checkpoint: every row found after the crash');
is(found_themselves('l_empty', '<->', 1, 400), 400,
	'index built empty, trained by inserts: every row found after the crash (L2)');
uses_index('l_empty', '<#>', 'l_empty_ip', 'index built empty: ORDER BY <#> uses it after the crash');
is( $node->safe_psql(
		$db, "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM l_empty ORDER BY v <#> $q LIMIT 10) s"),
	10,
	'index built empty, trained by inserts: inner-product scan works after the crash');

# The recovered indexes take more writes, VACUUM and REINDEX.
$node->safe_psql($db, qq{
INSERT INTO l SELECT i, $vec_i FROM generate_series(2001, 2100) i;
VACUUM l;
});
is(found_themselves('l', '<->', 2001, 2100), 100,
	'logged table: rows inserted after recovery are found');
$node->safe_psql($db, 'REINDEX TABLE l');
is(found_themselves('l', '<->', 1, 2100), 1450, 'logged table: every row found after REINDEX');

my $log = slurp_file($node->logfile);
unlike($log, qr/inconsistent page found/,
	'crash recovery: wal_consistency_checking found no inconsistent page');
like($log, qr/database system was not properly shut down; automatic recovery in progress/,
	'the server went through crash recovery');

$node->stop;
done_testing();
