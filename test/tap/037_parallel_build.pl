# TAP: CREATE INDEX with parallel workers.
#
# The build says at DEBUG1 how many workers it launched and how many of the
# graph's nodes they placed (the leader places the rest).  With the table's
# parallel_workers at 2, max_parallel_maintenance_workers 2 and
# min_parallel_table_scan_size 0, two workers take part, place some of the
# nodes, and the index is sound (omendb_check with heapallindexed, every
# node reachable), finds every row as its own nearest neighbour and has the
# recall of a serial build on the same table.  Without workers the build
# is serial and says nothing of them.  sql/omendb_parallel.sql checks more
# metrics and a concurrent build.
#
# Run by test/run (suite "tap") as the postgres user.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('parallel_build');
my $db = 'postgres';

# 20,000 rows of 16 dimensions (hash noise, no two equal), 50 queries
# that are not rows, and their exact top 10.
$node->safe_psql(
	$db, q{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16)) WITH (parallel_workers = 2);
INSERT INTO items
SELECT i, ARRAY(SELECT ((abs(sin(i * 12.9898 + j * 78.233)) * 43758.5453)::numeric % 1)::real
				FROM generate_series(1, 16) j)::vector
FROM generate_series(1, 20000) i;
CREATE TABLE queries (qid int PRIMARY KEY, v vector(16));
INSERT INTO queries
SELECT q, ARRAY(SELECT ((abs(sin(q * 7.131 + j * 3.77)) * 24634.6345)::numeric % 1)::real
				FROM generate_series(1, 16) j)::vector
FROM generate_series(1, 50) q;
CREATE TABLE truth AS
SELECT q.qid, (SELECT max(d) FROM (SELECT i.v <-> q.v AS d FROM items i
								   ORDER BY i.v <-> q.v LIMIT 10) s) AS kth
FROM queries q;
});

my $parallel = q{
SET max_parallel_maintenance_workers = 2;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '256MB';
};

# Build items_v with the given settings; return the DEBUG1 output.
sub build
{
	my ($settings) = @_;
	my ($ret, $out, $err) = $node->psql(
		$db, qq{
DROP INDEX IF EXISTS items_v;
$settings
SET client_min_messages = debug1;
CREATE INDEX items_v ON items USING omendb (v vector_l2_ops);
});
	is($ret, 0, 'CREATE INDEX succeeds') or diag($err);
	return $err;
}

# recall@10 at the default search list, and how many rows find themselves.
sub quality
{
	my $recall = knn_stats($node, $db, table => 'items', op => '<->',
		truth => 'truth', settings => ['SET enable_seqscan = off'])->{recall};
	my $self = $node->safe_psql(
		$db, q{
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM items t
WHERE (SELECT u.id FROM items u ORDER BY u.v <-> t.v LIMIT 1) = t.id;
});
	return ($recall, $self);
}

# A serial build first.
my $err = build('SET max_parallel_maintenance_workers = 0;');
unlike($err, qr/omendb: building with/, 'without maintenance workers the build is serial');
my ($serial_recall, $serial_self) = quality();
note("serial build: recall\@10 $serial_recall, $serial_self rows find themselves");

$err = build($parallel);
like($err, qr/omendb: building with 2 parallel workers/, 'two workers are launched');
my ($placed, $total) = $err =~ /omendb: parallel workers placed (\d+) of (\d+) graph nodes/;
ok(defined $placed && $placed > 0 && $placed < $total,
	'the workers place some of the nodes, the leader the others ('
	  . ($placed // 'no DEBUG1 line') . ' of ' . ($total // '?') . ')');
is($total, 20000, 'every row is a graph node');
omendb_check_ok($node, $db, 'items_v', 'the parallel index is sound, every node reachable',
	heapallindexed => 1, live_nodes => 20000, reachable => 1);
my ($recall, $self) = quality();
note("parallel build: recall\@10 $recall, $self rows find themselves");
is($self, 20000, 'every row finds itself first through the parallel index');
ok(defined $recall && $recall >= $serial_recall - 0.02,
	"recall\@10 $recall is level with the serial build's $serial_recall");

# One worker (leader and worker, as max_parallel_maintenance_workers = 1).
$err = build($parallel . 'SET max_parallel_maintenance_workers = 1;');
like($err, qr/omendb: building with 1 parallel workers/, 'one worker when one is allowed');
omendb_check_ok($node, $db, 'items_v', 'the index built with one worker is sound',
	heapallindexed => 1, live_nodes => 20000, reachable => 1);

$node->stop;
done_testing();
