# TAP: what a build reports in pg_stat_progress_create_index while it runs.
#
# Each phase that reads the table reports how many rows it has to go
# through and how many it has done: learning the quantizer ranges (pass 1)
# counts the table's rows, estimated by the planner, NULL vectors
# included; building the graph (pass 2) counts the vectors pass 1 found.
#
# To read a phase in the middle, the index is on an expression that waits,
# at row 500, for an advisory lock this test holds: first lock 1 (pass 1
# reaches the row first), then lock 2 (pass 2).  The expression is a plain
# function marked immutable; the waiting is its only side effect.
use strict;
use warnings;

use OmenTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = omen_node('build_progress');
my $db = 'postgres';

# 1,000 rows, every fifth vector NULL; analyzed, so that the planner's
# estimate of the table is exact.
$node->safe_psql(
	$db, q{
CREATE EXTENSION omendb;
CREATE TABLE items (id int, v vector(3));
INSERT INTO items
SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE ARRAY[sin(i), cos(i), i % 7]::real[]::vector END
FROM generate_series(1, 1000) i;
ANALYZE items;
CREATE SEQUENCE gate_calls;
CREATE FUNCTION gate(id int, v vector) RETURNS vector IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
	IF id = 501 THEN
		PERFORM pg_advisory_lock_shared(nextval('public.gate_calls'));
		PERFORM pg_advisory_unlock_all();
	END IF;
	RETURN v;
END
$$;
});

my $holder = $node->background_psql($db);
$holder->query_safe('SELECT pg_advisory_lock(1), pg_advisory_lock(2)');

my $build = $node->background_psql($db);
$build->query_until(qr/building/, q{
\echo building
CREATE INDEX items_gate ON items USING omendb ((gate(id, v)::vector(3)) vector_l2_ops);
});

# The build is waiting at row 501 for lock $key; its progress then.
sub progress_at_gate
{
	my ($key) = @_;
	$node->poll_query_until(
		$db, qq{
SELECT count(*) = 1 FROM pg_locks
WHERE locktype = 'advisory' AND objid = $key AND NOT granted})
	  or die "the build never waited for lock $key";
	return $node->safe_psql($db,
		'SELECT phase, tuples_total, tuples_done FROM pg_stat_progress_create_index');
}

is(progress_at_gate(1),
	'building index: learning quantizer ranges|1000|500',
	'learning the ranges: the table\'s 1,000 rows to go through (NULLs included), 500 done before row 501'
);
$holder->query_safe('SELECT pg_advisory_unlock(1)');

is(progress_at_gate(2),
	'building index: building graph|800|400',
	'building the graph: the 800 vectors pass 1 found, the 400 before row 501 done');
$holder->query_safe('SELECT pg_advisory_unlock(2)');

$build->query_safe('SELECT 1');
$build->quit;
$holder->quit;

is($node->safe_psql($db, q{SELECT nodes FROM omendb_check('items_gate', true)}),
	'800', 'the build held twice went on to index every vector');
is( $node->safe_psql(
		$db, q{SELECT reltuples FROM pg_class WHERE relname = 'items'}),
	'1000', 'and set the table\'s row estimate');

$node->stop;
done_testing();
