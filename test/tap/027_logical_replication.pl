# TAP: omendb indexes on a logical replication subscriber.
#
# Logical replication ships rows, not index pages: the subscriber keeps its
# own omendb indexes, maintained by the ordinary insert and VACUUM paths as
# the apply worker writes the rows.  The comparisons search with
# omendb.search_list_size = 10000, more than the indexes' node slots: an
# exhaustive search, whose order is exact whatever the graph's shape
# (README.md, "Settings"), so that the subscriber's graphs, grown
# differently from the publisher's, must give the same rows.  What is
# pinned down:
#
#   * an index created on the subscriber's empty table before the
#     subscription (trained on the first copied row) and one built after
#     the initial copy both answer the top 10 of 30 queries exactly as the
#     publisher's indexes do, ids and distances, and as a sequential scan;
#   * after inserts, updates of vectors and of keys, deletes and VACUUM on
#     the publisher, once the subscriber has caught up, the same holds;
#   * omendb_check with the heap cross-check passes on the subscriber, one
#     live node per row after its VACUUM.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $db = 'postgres';
# The subscriber without autovacuum: its exact live-node counts below
# count on VACUUM removing every dead row, which a concurrent autovacuum or
# autoanalyze snapshot can hold back (the rows stay dead but not
# removable, and their nodes live).
my $publisher = omen_node('publisher', init => { allows_streaming => 'logical' });
my $subscriber = omen_node('subscriber', conf => ['autovacuum = off']);

# 32-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i) = @_;
	return wave_vec_sql($i, 32);
}
my $vec_i = vec_sql('i');
my $schema = qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(32));
CREATE TABLE queries (qid int PRIMARY KEY, v vector(32));
INSERT INTO queries SELECT q, @{[ vec_sql('(q * 97 + 0.5)') ]} FROM generate_series(1, 30) q;
};

$publisher->safe_psql(
	$db, qq{
$schema
INSERT INTO items SELECT i, $vec_i FROM generate_series(1, 3000) i;
CREATE INDEX items_l2 ON items USING omendb (v);
CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops);
CREATE PUBLICATION pub FOR TABLE items;
});

# The subscriber's L2 index exists before the initial copy, which fills it
# row by row.
$subscriber->safe_psql(
	$db, qq{
$schema
CREATE INDEX items_l2 ON items USING omendb (v);
CREATE SUBSCRIPTION sub
	CONNECTION 'host=@{[ $publisher->host ]} port=@{[ $publisher->port ]} dbname=$db' PUBLICATION pub;
});
$subscriber->wait_for_subscription_sync($publisher, 'sub');
is($subscriber->safe_psql($db, 'SELECT count(*) FROM items'),
	3000, 'the initial copy brought the 3,000 rows');

# The cosine index is built on the copied rows.
$subscriber->safe_psql($db, 'CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops)');

for my $c (['<->', 'items_l2'], ['<=>', 'items_cos'])
{
	my ($op, $index) = @$c;
	like(
		plan_of(
			$subscriber, $db,
			"SELECT id FROM items ORDER BY v $op (SELECT v FROM queries WHERE qid = 1) LIMIT 10",
			'SET enable_seqscan = off'),
		qr/Index Scan using $index\b/,
		"subscriber: ORDER BY $op uses $index");
}

# The top 10 of every query by each operator, ids and distances in order.
my $topk_sql = q{
SELECT q.qid,
	   (SELECT string_agg(id || ':' || d, ',')
		FROM (SELECT id, t.v <-> q.v AS d FROM items t ORDER BY t.v <-> q.v LIMIT 10) s),
	   (SELECT string_agg(id || ':' || d, ',')
		FROM (SELECT id, t.v <=> q.v AS d FROM items t ORDER BY t.v <=> q.v LIMIT 10) s)
FROM queries q ORDER BY q.qid;
};

# is() on two multi-line answers; on a mismatch, only the differing lines.
sub same_answers
{
	my ($got, $want, $name) = @_;
	my @g = split(/\n/, $got);
	my @w = split(/\n/, $want);
	my @diff = grep { ($g[$_] // '') ne ($w[$_] // '') } 0 .. ($#g > $#w ? $#g : $#w);
	ok(!@diff, $name)
	  or diag(join("\n", map { "got:  " . ($g[$_] // '') . "\nwant: " . ($w[$_] // '') } @diff));
}

sub compare
{
	my ($what) = @_;
	$publisher->wait_for_catchup('sub');
	my $index_sql = "SET enable_seqscan = off; SET omendb.search_list_size = 10000; $topk_sql";
	my $p = $publisher->safe_psql($db, $index_sql);
	my $s = $subscriber->safe_psql($db, $index_sql);
	my $exact = $subscriber->safe_psql($db,
		"SET enable_indexscan = off; SET enable_bitmapscan = off; $topk_sql");
	my $nq = () = $p =~ /^\d+\|\d+:[^|]*\|\d+:/mg;
	is($nq, 30, "$what: 30 queries answered by both operators on the publisher");
	same_answers($s, $p, "$what: the subscriber's indexes return the publisher's top 10, ids and distances");
	same_answers($s, $exact, "$what: ... which is the exact answer of a sequential scan");
	is( $subscriber->safe_psql($db, 'SELECT count(*), sum(id) FROM items'),
		$publisher->safe_psql($db, 'SELECT count(*), sum(id) FROM items'),
		"$what: the subscriber has the publisher's rows");
}
compare('after the initial copy');

# Writes on the publisher: inserts, vectors updated (negated), keys
# updated, deletes, VACUUM, and inserts into the freed space.  Each
# reaches the subscriber as row changes that its indexes absorb.
my $minus = "'[" . join(',', (-1) x 32) . "]'";
$publisher->safe_psql(
	$db, qq{
INSERT INTO items SELECT i, $vec_i FROM generate_series(3001, 3500) i;
UPDATE items SET v = v * $minus WHERE id % 13 = 0;
UPDATE items SET id = id + 100000 WHERE id % 17 = 0;
DELETE FROM items WHERE id % 7 = 0;
VACUUM items;
INSERT INTO items SELECT i, $vec_i FROM generate_series(4001, 4300) i;
});
# Rows that are a query's exact duplicate: its nearest row at distance 0.
$publisher->safe_psql($db, 'INSERT INTO items SELECT 50000 + qid, v FROM queries WHERE qid <= 5');
compare('after inserts, updates, deletes and VACUUM on the publisher');
is( $subscriber->safe_psql(
		$db, q{
SET enable_seqscan = off;
SELECT string_agg((SELECT t.id || ':' || (t.v <-> q.v) FROM items t ORDER BY t.v <-> q.v LIMIT 1), ',' ORDER BY q.qid)
FROM queries q WHERE q.qid <= 5}),
	join(',', map { (50000 + $_) . ':0' } 1 .. 5),
	'the subscriber finds the replicated duplicates of queries 1-5 first, at distance 0');

# The subscriber's own VACUUM removes the dead rows of the applied updates
# and deletes from its indexes: one live node per row.
$subscriber->safe_psql($db, 'VACUUM items');
my $rows = $subscriber->safe_psql($db, 'SELECT count(*) FROM items');
for my $index (qw(items_l2 items_cos))
{
	omendb_check_ok($subscriber, $db, $index,
		"subscriber: omendb_check of $index passes, $rows live nodes after VACUUM",
		heapallindexed => 1, live_nodes => $rows);
}
compare('after VACUUM on the subscriber');

for my $node ($publisher, $subscriber)
{
	unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal/,
		$node->name . ': no crash in the server log');
}
$subscriber->stop;
$publisher->stop;
done_testing();
