# TAP: stale pages where node pages must start, after a crashed training.
#
# The first vector indexed into an index built empty trains the quantizer:
# the quantizer pages are written first, each in its own record, and the
# meta page that makes them live last.  A crash between the two leaves an
# untrained index with quantizer pages behind its meta page, and the next
# insert trains again.  An index on a column without a typmod (which
# CREATE INDEX refuses, but an index from an older version may have) could retrain for
# another dimension, with fewer quantizer pages, so that node pages start
# where a stale quantizer page lies.  Inserts must still work, and the
# index must stay valid, also after crash recovery replays the retraining.
#
# The file state is made exactly, with the cluster stopped: the 3-d index's
# untrained meta page, then the two quantizer pages of a trained 1,500-d
# index, as a training for 1,500 dimensions would have left them.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('training', conf => ['autovacuum = off']);
my $db = 'postgres';
my $BLCKSZ = 8192;

$node->safe_psql(
	$db, q{
CREATE EXTENSION omendb;
CREATE TABLE items (id int, v vector(3));
CREATE INDEX items_l2 ON items USING omendb (v);
CREATE TABLE wide (id int, v vector(1500));
CREATE INDEX wide_l2 ON wide USING omendb (v);
INSERT INTO wide SELECT 0, array_agg(sin(j))::real[] FROM generate_series(1, 1500) j;
CHECKPOINT;
});
my $file = $node->data_dir . '/'
  . $node->safe_psql($db, "SELECT pg_relation_filepath('items_l2')");
my $wide_file = $node->data_dir . '/'
  . $node->safe_psql($db, "SELECT pg_relation_filepath('wide_l2')");

$node->stop;
my $untrained = read_file($file);
my $trained = read_file($wide_file);
is(length($untrained), $BLCKSZ, 'an index built empty is its meta page alone');
ok(length($trained) >= 3 * $BLCKSZ, 'a 1,500-d index has two quantizer pages after its meta page');
write_file($file, $untrained . substr($trained, $BLCKSZ, 2 * $BLCKSZ));
$node->start;

# Retraining for 3 dimensions: one quantizer page, node pages from block 2,
# where the second stale quantizer page lies.
my ($ret, $out, $err) = $node->psql($db, q{
INSERT INTO items VALUES (1, '[1,2,3]');
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), i % 7]::real[] FROM generate_series(2, 600) i;
});
is($ret, 0, 'inserts after the crashed training succeed')
  or diag($err);

sub exact_top10
{
	my ($label) = @_;
	my $q = q{SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> '[0.5,0.5,3]' LIMIT 10) s};
	my $got = $node->safe_psql($db, "SET enable_seqscan = off; $q");
	my $want = $node->safe_psql($db, "SET enable_indexscan = off; $q");
	is($got, $want, "$label: the index returns the exact top 10");
}

sub check_all_indexed
{
	my ($label) = @_;
	omendb_check_ok($node, $db, 'items_l2',
		"$label: omendb_check passes, with the heap check: one live node a row, all reachable",
		heapallindexed => 1,
		live_nodes => 600,
		reachable => 1);
}

exact_top10('after retraining');
check_all_indexed('after retraining');

# Crash recovery replays the retraining (quantizer page, zeroed stale page,
# meta page) and the inserts: the same index comes back.
$node->stop('immediate');
$node->start;
exact_top10('after crash recovery');
check_all_indexed('after crash recovery');
$node->safe_psql($db, q{INSERT INTO items SELECT i, ARRAY[cos(i), sin(i), i % 5]::real[] FROM generate_series(601, 700) i});
is($node->safe_psql($db, q{SELECT live_nodes FROM omendb_check('items_l2', true)}), 700,
	'inserts after crash recovery are indexed');

$node->stop;
done_testing();
