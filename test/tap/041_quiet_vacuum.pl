# TAP: a VACUUM skips reading an omendb index that nothing has changed
# since a cleanup that found nothing to do (src/README.omendb, "Quiet
# cleanups"), and reads it whenever something has.
#
# VACUUM says when it skips, at the level index access methods speak at.  Pinned down, in order:
#   - the first VACUUM after a build reads the index; the next one, with
#     nothing changed, skips it;
#   - updates of another column (HOT: no index entries) leave it skipped;
#   - an insert into a new slot makes the next VACUUM read it, and the one
#     after skip again;
#   - a DELETE makes the next VACUUM read it (and free the nodes), and the
#     one after that too (it freed nodes, so it was not quiet), then skips;
#   - an insert that takes a slot the DELETE freed (the slot count stays
#     as it was) makes the next VACUUM read it;
#   - a deleted entry point, which stays, does not keep VACUUM reading;
#   - after a skipped VACUUM the index's pg_class.reltuples is the live
#     row count, omendb_check passes with the heap check, an exhaustive
#     index scan returns the sequential scan's rows in its order, and a
#     standby replaying the meta page's records (wal_consistency_checking)
#     answers the same.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node(
	'primary',
	init => { allows_streaming => 1 },
	conf => [ 'autovacuum = off', 'wal_consistency_checking = generic' ]);
my $db = 'postgres';
my $NROWS = 4000;

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0, v vector(16))
	WITH (autovacuum_enabled = off, fillfactor = 50);
INSERT INTO items (id, v) SELECT i, @{[ wave_vec_sql('i', 16) ]} FROM generate_series(1, $NROWS) i;
CREATE INDEX items_v ON items USING omendb (v);
});

$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;

my $SKIPPED = qr/index "items_v": nothing changed since its last cleanup, which found nothing to do; not read again/;

# VACUUM items; whether it says it skipped the index.  (Index access
# methods speak at DEBUG2 from PostgreSQL 15 on, at INFO under VERBOSE
# before.)
sub vacuum_skipped
{
	my ($stderr);
	$node->psql($db, 'SET client_min_messages = debug2; VACUUM (VERBOSE) items',
		stderr => \$stderr, on_error_die => 1);
	return $stderr =~ $SKIPPED ? 1 : 0;
}

sub insert_rows
{
	my ($from, $to) = @_;
	$node->safe_psql($db,
		"INSERT INTO items (id, v) SELECT i, @{[ wave_vec_sql('i', 16) ]} FROM generate_series($from, $to) i"
	);
	return;
}

sub slots_free
{
	return $node->safe_psql($db, "SELECT nodes || ' ' || free_nodes FROM omendb_index_stats('items_v')");
}

is(vacuum_skipped(), 0, 'the first VACUUM after the build reads the index');
is(vacuum_skipped(), 1, 'the next VACUUM, with nothing changed, skips it');
is(vacuum_skipped(), 1, 'and so does the one after');

$node->safe_psql($db, 'UPDATE items SET hits = hits + 1 WHERE id <= 1000');
is($node->safe_psql($db, 'SELECT count(*) FROM items WHERE hits = 1'), '1000', 'a thousand rows updated');
is(vacuum_skipped(), 1, 'updates of another column (HOT) leave the index unchanged: skipped');

insert_rows($NROWS + 1, $NROWS + 1);
is(vacuum_skipped(), 0, 'an insert into a new slot: the next VACUUM reads the index');
is(vacuum_skipped(), 1, 'and the one after skips it');

$node->safe_psql($db, 'DELETE FROM items WHERE id % 10 = 0');
is(vacuum_skipped(), 0, 'after a DELETE the next VACUUM reads the index');
my ($slots, $free) = split / /, slots_free();
cmp_ok($free, '>', 0, 'that VACUUM freed slots');
is(vacuum_skipped(), 0, 'the VACUUM after one that freed nodes reads the index again');
is(vacuum_skipped(), 1, 'then, with nothing changed, VACUUM skips it');

insert_rows($NROWS + 2, $NROWS + 2);
my ($slots2, $free2) = split / /, slots_free();
is("$slots2 " . ($free - $free2), "$slots 1", 'an insert took a freed slot: as many slots as before, one fewer free');
is(vacuum_skipped(), 0, 'after an insert into a freed slot the next VACUUM reads the index');
is(vacuum_skipped(), 1, 'and the one after skips it');

# The entry point stays when its row is deleted (a deleted node, never
# freed): with every first row deleted, it is one of them.
$node->safe_psql($db, "DELETE FROM items WHERE id <= $NROWS + 2");
insert_rows(10001, 12000);
is(vacuum_skipped(), 0, 'after every first row is deleted, VACUUM reads the index');
is(vacuum_skipped(), 0, 'and the next, after one that freed nodes');
is($node->safe_psql($db, "SELECT deleted_nodes FROM omendb_index_stats('items_v')"),
	'1', 'the entry point stays, deleted');
is(vacuum_skipped(), 1, 'the next VACUUM skips the index: the deleted entry point is no work');
is(vacuum_skipped(), 1, 'and so does the one after');

my $live = $node->safe_psql($db, 'SELECT count(*) FROM items');
is($node->safe_psql($db, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'items_v'"),
	$live, 'after a skipped VACUUM the index\'s reltuples is the live row count');
omendb_check_ok($node, $db, 'items_v', 'after skipped VACUUMs omendb_check passes with the heap check',
	heapallindexed => 1, live_nodes => $live);

my $query = "SELECT id FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 10077)";
my $seq = $node->safe_psql($db, "SET enable_indexscan = off; $query");
my $idx_sql = "SET enable_seqscan = off; SET omendb.search_list_size = 10000; $query";
like(
	$node->safe_psql($db, "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $query"),
	qr/Index Scan using items_v/, 'the ordered query scans the index');
is($node->safe_psql($db, $idx_sql), $seq, 'an exhaustive index scan returns the sequential scan\'s rows in order');

$node->wait_for_catchup($standby, 'replay');
is($standby->safe_psql($db, $idx_sql), $seq,
	'the standby, replaying the meta page\'s records under wal_consistency_checking, answers the same');

$standby->stop;
$node->stop;
done_testing();
