# TAP: index scans flag the nodes of dead rows deleted (kill_prior_tuple).
#
# When the executor finds the heap row of a returned TID dead to every
# snapshot, the scan flags its node deleted, so that later scans neither
# return the TID nor fetch its row, before any VACUUM.  A row that some
# snapshot still sees keeps its node: one deleted by a transaction still
# open, one an older snapshot of another session sees, and, where a
# standby replays the index, one the heap has not yet pruned (a standby
# snapshot may see it, and nothing would cancel that snapshot before the
# kill is replayed).  Results stay exact throughout, the primary's
# omendb_check counts the killed nodes, and a streaming standby replays
# the kills under wal_consistency_checking = 'generic' and answers as the
# primary does.  No VACUUM runs: autovacuum is off.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $primary = omen_node(
	'primary',
	init => { allows_streaming => 1 },
	conf => [ "wal_consistency_checking = 'generic'", 'autovacuum = off' ]);
my $db = 'postgres';
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# 16-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i) = @_;
	return wave_vec_sql($i, 16);
}
my $vec_i = vec_sql('i');
my $q = "'[0.5,0.1,-0.3,0.2,0.5,0.1,-0.3,0.2,0.5,0.1,-0.3,0.2,0.5,0.1,-0.3,0.2]'::vector";

# 3,000 rows fill 40 heap pages exactly, 75 rows each, so fetching a dead
# row through the index prunes its page first.
$primary->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16)) WITH (autovacuum_enabled = off);
INSERT INTO items SELECT i, $vec_i FROM generate_series(1, 3000) i;
CREATE INDEX items_v ON items USING omendb (v);
CREATE TABLE queries (qid int PRIMARY KEY, v vector(16));
INSERT INTO queries SELECT q, @{[ vec_sql('(q + 0.5)') ]} FROM generate_series(1, 20) q;
});

# An exhaustive search list makes the index's order exact, so that each
# index query can be compared with a sequential scan's.
my $by_index = 'SET enable_seqscan = off; SET enable_indexscan = on; SET omendb.search_list_size = 10000;';
my $by_seqscan = 'SET enable_seqscan = on; SET enable_indexscan = off; SET enable_bitmapscan = off;';
my $top10 = "SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> $q LIMIT 10) s";
my $nearest300 = "SELECT id FROM items ORDER BY v <-> $q, id LIMIT 300";

like(plan_of($primary, $db, "SELECT id FROM items ORDER BY v <-> $q LIMIT 10",
		'SET enable_seqscan = off'),
	qr/Index Scan using items_v\b/, 'the query runs as an index scan');

# Run $sql (one row) after $settings in a session of its own.
sub run
{
	my ($node, $settings, $sql) = @_;
	my $out = $node->safe_psql($db, "$settings\n$sql;");
	return (split /\n/, $out)[0];
}

# The same, returning also the number of TIDs the index returned to the
# scans (each a heap fetch): idx_tup_read of its transaction, read in that
# transaction, before the lazy flush of statistics (which PostgreSQL 13
# and 14 cannot force).
sub run_fetching
{
	my ($node, $settings, $sql) = @_;
	my $out = $node->safe_psql($db,
		"$settings\nBEGIN;\n$sql;\nSELECT pg_stat_get_xact_tuples_returned('items_v'::regclass);\nCOMMIT;");
	return (split /\n/, $out)[ 0, 1 ];
}

sub counts
{
	my ($node, $index) = @_;
	return $node->safe_psql($db,
		"SELECT live_nodes || ' live, ' || deleted_nodes || ' deleted' FROM omendb_check('$index')");
}

is(counts($primary, 'items_v'), '3000 live, 0 deleted', 'the index starts with every node live');

# A delete not yet committed: its rows are still visible to everyone.
my $deleter = $primary->background_psql($db);
$deleter->query_safe('BEGIN');
$deleter->query_safe("DELETE FROM items WHERE id IN ($nearest300)");
my $exact = run($primary, $by_seqscan, $top10);
is(run($primary, $by_index, $top10), $exact,
	'while the delete is open, the index returns the exact top 10, deleted rows among them');
is(counts($primary, 'items_v'), '3000 live, 0 deleted',
	'rows deleted by a transaction still open are not killed');

# Committed, but an older snapshot of another session still sees them.
my $reader = $primary->background_psql($db);
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $old_exact = $reader->query_safe("$by_seqscan $top10");
$deleter->query_safe('COMMIT');
$deleter->quit;
$exact = run($primary, $by_seqscan, $top10);
isnt($exact, $old_exact, 'after the delete commits, the top 10 changes');
is(run($primary, $by_index, $top10), $exact, 'the index returns the new exact top 10');
is(counts($primary, 'items_v'), '3000 live, 0 deleted',
	'rows that an older snapshot still sees are not killed');
is($reader->query_safe("$by_index $top10"), $old_exact,
	'the older snapshot still gets its own top 10 through the index');
$reader->query_safe('COMMIT');
$reader->quit;

# Dead to every snapshot: the first scan kills what it fetches (300 rows,
# more than one batch of kills).
my ($rows, $first) = run_fetching($primary, $by_index, $top10);
is($rows, $exact, 'the first scan after that returns the exact top 10');
is(counts($primary, 'items_v'), '2700 live, 300 deleted',
	'it flagged the nodes of the 300 deleted rows it fetched deleted');
($rows, my $second) = run_fetching($primary, $by_index, $top10);
is($rows, $exact, 'a second scan returns the same rows');
is($first - $second, 300,
	"the second scan fetches none of the 300 killed rows ($first heap fetches, then $second)");
omendb_check_ok($primary, $db, 'items_v', 'the index passes omendb_check after the kills',
	heapallindexed => 1, live_nodes => 2700);

# Rescans of one scan node, for many queries: kills are applied as each
# rescan begins.
$primary->safe_psql($db, 'DELETE FROM items WHERE id % 5 = 0');
my $lateral = qq{
SELECT string_agg(array_to_string(ids, ' '), ',' ORDER BY qid) FROM queries q,
	LATERAL (SELECT array_agg(id) AS ids FROM (SELECT id FROM items t ORDER BY t.v <-> q.v LIMIT 5) s) r};
$exact = run($primary, $by_seqscan, $lateral);
($rows, $first) = run_fetching($primary, $by_index, $lateral);
is($rows, $exact, 'rescanned for 20 queries, the index returns the exact top 5 of each');
my ($live) = counts($primary, 'items_v') =~ /^(\d+) live/;
cmp_ok($live, '<', 2700, 'the rescanned scan killed nodes of rows deleted since');
($rows, $second) = run_fetching($primary, $by_index, $lateral);
is($rows, $exact, 'rescanned again, it returns the same rows');
is($first - $second, 2700 - $live,
	"and fetches none of the rows killed ($first heap fetches, then $second)");

# The standby has replayed every kill record: the same flags, the same
# answers.
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is(counts($standby, 'items_v'), counts($primary, 'items_v'),
	"the standby's index has the primary's live and deleted nodes");
is(run($standby, $by_index, $top10), run($primary, $by_index, $top10),
	'the standby returns the same top 10 as the primary');
is(run($standby, $by_index, $lateral), $exact, 'and the same top 5 of each query');

# A table on one heap page with room to spare, which fetching its dead
# rows does not prune.  A standby snapshot taken before the delete still
# sees them, and no record the primary writes cancels it, so the primary
# must not kill their nodes.
$primary->safe_psql(
	$db, qq{
CREATE TABLE small (id int PRIMARY KEY, v vector(16)) WITH (autovacuum_enabled = off);
INSERT INTO small SELECT i, $vec_i FROM generate_series(1, 30) i;
CREATE INDEX small_v ON small USING omendb (v);
CREATE UNLOGGED TABLE small_unlogged WITH (autovacuum_enabled = off) AS SELECT * FROM small;
CREATE INDEX small_unlogged_v ON small_unlogged USING omendb (v);
});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
my $all_small = "SELECT string_agg(id::text, ',') FROM (SELECT id FROM small ORDER BY v <-> $q) s";
my $standby_reader = $standby->background_psql($db);
$standby_reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $small_before = $standby_reader->query_safe("$by_seqscan $all_small");
$primary->safe_psql($db, 'DELETE FROM small WHERE id % 2 = 0');
is(run($primary, $by_index, $all_small), run($primary, $by_seqscan, $all_small),
	'the index returns the 15 rows left in order');
is(counts($primary, 'small_v'), '30 live, 0 deleted',
	'rows the heap has not pruned are not killed where a standby replays the index');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby_reader->query_safe("$by_index $all_small"), $small_before,
	'a standby snapshot from before the delete still gets every row through the index');
$standby_reader->query_safe('COMMIT');
$standby_reader->quit;

# No standby replays an unlogged index: there the kills need no pruning.
# (A transaction of its own: one that writes only unlogged pages commits
# asynchronously, and until that commit is flushed the heap sets no hint
# bits for transactions near it, without which no row is dead to all.)
$primary->safe_psql($db, 'DELETE FROM small_unlogged WHERE id % 2 = 0');
(my $all_unlogged = $all_small) =~ s/FROM small /FROM small_unlogged /;
is(run($primary, $by_index, $all_unlogged), run($primary, $by_seqscan, $all_unlogged),
	'the unlogged index returns the 15 rows left in order');
is(counts($primary, 'small_unlogged_v'), '15 live, 15 deleted',
	'an unlogged index kills the dead rows it returned without waiting for pruning');
is(run($primary, $by_index, $all_unlogged), run($primary, $by_seqscan, $all_unlogged),
	'and returns the same rows again');

# Every replayed record passed the consistency check.
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql($db, 'SELECT pg_is_in_recovery()'), 't',
	'the standby is still in recovery (its startup process did not fail)');
my $log = slurp_file($standby->logfile);
unlike($log, qr/inconsistent page found/,
	'wal_consistency_checking found no inconsistent page on the standby');
unlike($log, qr/PANIC|terminated by signal/, 'no PANIC or crash on the standby');

$standby->stop;
$primary->stop;
done_testing();
