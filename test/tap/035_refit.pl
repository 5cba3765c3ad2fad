# TAP: VACUUM refits a quantizer that no longer fits, and survives a crash
# in the middle.
#
#   - indexes built empty (L2, inner product, cosine) learn their ranges
#     from a first row a thousandth of the scale of the rows after it:
#     nearly every code clamps;
#   - while a transaction with an older snapshot runs, VACUUM waits for it
#     and then leaves the quantizer alone;
#   - a VACUUM limited to a few node pages (omendb.refit_max_pages) leaves
#     a refit under way, nodes of both parameter sets; then the server is
#     killed (kill -9, every process).  After recovery omendb_check passes
#     with the heap check, exhaustive scans answer as a sequential scan
#     does, and inserts go on;
#   - the next VACUUM finishes the refit: nothing clamps, and the meta page
#     says so; a standby that replayed it all (with wal_consistency_checking
#     comparing each generic record's pages) answers the same;
#   - once a refit is done, VACUUM relinks the graph with the new codes: a
#     relink cut short (omendb.refit_max_pages) and a crash leave the meta
#     page's relink_from part of the way, omendb_check passes, and the next
#     VACUUM finishes it; recall then matches a fresh build's;
#   - an index whose meta page predates the parameter sets (one set, the
#     meta page's pd_lower short of quant_sets) is read, scanned, inserted
#     into and vacuumed as before, and never refitted.
#
# Checksums are off (initdb's default), so the pages can be changed freely.
# The offsets follow src/omendb.h and PostgreSQL's page layout on a
# little-endian machine.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

skip_unless_little_endian();
note('child subreaper: ' . (become_subreaper() ? 'yes' : 'no'));

my $BLCKSZ = 8192;
# OmenMetaPageData right after the 24-byte page header ($PD_LOWER and
# $META_END come from OmenTest)
my %META = (
	nquant_blocks => 24 + 44,
	first_node_block => 24 + 48,
	insert_block => 24 + 56,
	counted_until => 24 + 80,
	quant_sets => 24 + 104,
	quant_current => 24 + 106,
	quant_refitting => 24 + 112,
	quant_refits => 24 + 116,
	relink_from => 24 + 120);
my $NO_NODE = 0xFFFFFFFF;

my $primary = omen_node(
	'primary',
	# pages are edited by hand below (PostgreSQL 18's initdb turns
	# checksums on)
	init => { allows_streaming => 1, no_data_checksums => 1 },
	conf => [ "wal_consistency_checking = 'generic'", 'autovacuum = off' ]);
my $db = 'postgres';
# A slot keeps the WAL the standby has not received: with
# wal_consistency_checking every record carries its pages, and a relink
# writes hundreds of megabytes of them while the standby reconnects after
# the crash below.
$primary->safe_psql($db, "SELECT pg_create_physical_replication_slot('standby', true)");
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "primary_slot_name = 'standby'");
$standby->start;

sub catch_up
{
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
}

my @indexes = qw(items_l2 items_ip items_cos);
my %order = (
	items_l2 => 'v <-> vec(7)',
	items_ip => 'v <#> vec(7)',
	items_cos => 'v <=> vec(7)');

$primary->safe_psql(
	$db, q{
CREATE EXTENSION omendb;
-- 32 pseudo-random elements in [0, 100) from the id
CREATE FUNCTION vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT array_agg((hashint4(id * 32 + j) & 65535) / 655.36 - 20 * (j % 3) ORDER BY j)::real[]::vector
   FROM generate_series(1, 32) j $$;
CREATE TABLE items (id int PRIMARY KEY, v vector(32));
CREATE INDEX items_l2 ON items USING omendb (v);
CREATE INDEX items_ip ON items USING omendb (v vector_ip_ops);
CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops);
-- the first row, a thousandth of the others' scale, sets the ranges
INSERT INTO items SELECT 0, (SELECT array_agg(0.1 * sin(j) ORDER BY j)::real[]::vector
	FROM generate_series(1, 32) j);
INSERT INTO items SELECT i, vec(i) FROM generate_series(1, 2000) i;
});

# Every row in exact order: an exhaustive search, whatever the graph.
sub exact_order
{
	my ($node, $label) = @_;
	for my $index (@indexes)
	{
		# distances, not ids: rows at equal distances (there are) may come
		# in either order
		my $sql = "SELECT count(*), string_agg(d::text, ',') "
		  . "FROM (SELECT $order{$index} AS d FROM items ORDER BY $order{$index}) s";
		is($node->safe_psql($db, "SET enable_seqscan = off; SET omendb.search_list_size = 10000; $sql"),
			$node->safe_psql($db, "SET enable_indexscan = off; SET enable_bitmapscan = off; $sql"),
			"$label, $index: an exhaustive index scan returns every row in the sequential scan's order");
	}
}

sub check_all
{
	my ($node, $label, %opts) = @_;
	my %rows;
	$rows{$_} = omendb_check_ok($node, $db, $_, "$label, $_: omendb_check passes, with the heap check",
		heapallindexed => 1, %opts)
	  for @indexes;
	return %rows;
}

my %before = check_all($primary, 'built empty');
for my $index (qw(items_l2 items_ip))
{
	cmp_ok($before{$index}{clamped_nodes}, '>', 1900, "built empty, $index: nearly every code clamps");
}

# An older snapshot holds the refit back: VACUUM waits for it, gives up,
# and leaves the quantizer as it was.
my $holder = $primary->background_psql($db);
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT count(*) FROM items');
$primary->safe_psql($db, 'VACUUM items');
my %held = check_all($primary, 'a refit held back by an older snapshot');
is($held{$_}{clamped_nodes}, $before{$_}{clamped_nodes}, "held back, $_: no code changed")
  for qw(items_l2 items_ip);
$holder->query_safe('COMMIT');
$holder->quit;

# A refit cut short after three node pages, then a crash.
$primary->safe_psql($db, 'SET omendb.refit_max_pages = 3; VACUUM items');
my %partial = check_all($primary, 'a refit cut short');
for my $index (qw(items_l2 items_ip))
{
	cmp_ok($partial{$index}{clamped_nodes}, '<', $before{$index}{clamped_nodes},
		"a refit cut short, $index: the re-encoded nodes no longer clamp");
	cmp_ok($partial{$index}{clamped_nodes}, '>', 0, "a refit cut short, $index: the others still do");
}
crash_node($primary, 1);
$primary->start;
check_all($primary, 'after crash recovery, a refit under way');
exact_order($primary, 'after crash recovery, a refit under way');

# Inserts and deletes meanwhile: new nodes take the current set.
$primary->safe_psql($db, q{
INSERT INTO items SELECT i, vec(i) FROM generate_series(2001, 2300) i;
DELETE FROM items WHERE id % 11 = 5;
});
check_all($primary, 'inserts and deletes during the refit');
exact_order($primary, 'inserts and deletes during the refit');
catch_up();
exact_order($standby, 'on the standby, a refit under way');

# The next VACUUM finishes it.
$primary->safe_psql($db, 'VACUUM items');
my %done = check_all($primary, 'the refit finished');
is($done{$_}{clamped_nodes}, 0, "the refit finished, $_: nothing clamps") for qw(items_l2 items_ip);
exact_order($primary, 'the refit finished');
catch_up();
exact_order($standby, 'on the standby, the refit finished');
%done = check_all($standby, 'on the standby, the refit finished');
is($done{$_}{clamped_nodes}, 0, "on the standby, $_: nothing clamps") for qw(items_l2 items_ip);

# A quantizer that fits is left alone.
my %fitted = map { $_ => $primary->safe_psql($db, "SELECT mean_error_ratio FROM omendb_check('$_')") } @indexes;
$primary->safe_psql($db, 'VACUUM items');
is($primary->safe_psql($db, "SELECT mean_error_ratio FROM omendb_check('$_')"), $fitted{$_},
	"$_: a VACUUM after the refit changes no code") for @indexes;

sub index_file
{
	my ($node, $index) = @_;
	return $node->data_dir . '/' . $node->safe_psql($db, "SELECT pg_relation_filepath('$index')");
}

my %path = map { $_ => index_file($primary, $_) } @indexes;
$primary->stop;
for my $index (@indexes)
{
	my $bytes = read_file($path{$index});
	is(u16($bytes, $PD_LOWER), $META_END, "$index: the meta page has the parameter sets");
	is(u16($bytes, $META{quant_sets}), 2, "$index: two of them");
	is(u32($bytes, $META{quant_refitting}), 0, "$index: no refit is under way");
	next if $index eq 'items_cos';
	is(u16($bytes, $META{quant_current}), 1, "$index: the refit made the second current");
	is(u32($bytes, $META{quant_refits}), 1, "$index: one refit is done");
	is(u32($bytes, $META{relink_from}), $NO_NODE, "$index: no relink is left to do");
}
$primary->start;

# ------------------------------------------ the relink after a refit
#
# An index built empty from a tiny first row, on 4,000 rows; a VACUUM
# whose share of pages (omendb.refit_max_pages) is the index's size
# re-encodes every node page and relinks only the first three (the meta and
# quantizer pages are the difference); a crash; the next VACUUM finishes.
my $recall_sql = q{
WITH q AS (SELECT id, vec(100000 + id) AS v FROM generate_series(1, 100) id),
got AS (SELECT q.id, f.id AS fid FROM q, LATERAL (SELECT id FROM rl ORDER BY v <-> q.v LIMIT 10) f),
ex AS (SELECT q.id, f.id AS fid FROM q, LATERAL (SELECT id FROM rl ORDER BY (v <-> q.v) + 0 LIMIT 10) f)
SELECT (SELECT count(*) FROM got JOIN ex USING (id, fid))::float8 / 1000};
$primary->safe_psql(
	$db, q{
CREATE TABLE rl (id int PRIMARY KEY, v vector(32));
CREATE INDEX rl_l2 ON rl USING omendb (v);
INSERT INTO rl SELECT 0, (SELECT array_agg(0.1 * sin(j) ORDER BY j)::real[]::vector
	FROM generate_series(1, 32) j);
INSERT INTO rl SELECT i, vec(i) FROM generate_series(1, 4000) i;
});
my $rl_blocks = $primary->safe_psql($db, "SELECT pg_relation_size('rl_l2') / 8192");
my $rl_path = index_file($primary, 'rl_l2');
$primary->safe_psql($db, "SET omendb.refit_max_pages = $rl_blocks; VACUUM rl");
crash_node($primary, 1);
$primary->start;
$primary->safe_psql($db, 'CHECKPOINT');
my $relink_from = u32(read_file($rl_path), $META{relink_from});
cmp_ok($relink_from, '>', 0, 'a relink cut short: the meta page says where it stopped');
cmp_ok($relink_from, '<', 4001, 'a relink cut short: before the last node');
omendb_check_ok($primary, $db, 'rl_l2', 'a relink cut short, after a crash: omendb_check passes, with the heap check',
	heapallindexed => 1, live_nodes => 4001, clamped_nodes => 0);
$primary->safe_psql($db, 'VACUUM rl');
$primary->safe_psql($db, 'CHECKPOINT');
is(u32(read_file($rl_path), $META{relink_from}), $NO_NODE, 'the next VACUUM finishes the relink');
omendb_check_ok($primary, $db, 'rl_l2', 'the relink finished: omendb_check passes, with the heap check',
	heapallindexed => 1, live_nodes => 4001, clamped_nodes => 0, reachable => 1);
my $relinked = $primary->safe_psql($db, "SET enable_seqscan = off; $recall_sql");
catch_up();
omendb_check_ok($standby, $db, 'rl_l2', 'the relink finished, on the standby: omendb_check passes',
	heapallindexed => 1, live_nodes => 4001);
$primary->safe_psql($db, 'REINDEX INDEX rl_l2');
my $fresh = $primary->safe_psql($db, "SET enable_seqscan = off; $recall_sql");
note("recall\@10 at the default list: relinked $relinked, fresh build $fresh");
cmp_ok($relinked, '>=', $fresh - 0.02, 'after the relink, recall@10 is within 0.02 of a fresh build\'s');

# ------------------------------------------ an index with one parameter set
#
# Made from a new one, the cluster stopped: the second set's quantizer page
# taken out (the node pages move down a block, as they lay in indexes of
# one set), the meta page's layout fields moved with them and its pd_lower
# cut back before quant_sets, the bytes after zero as generic xlog leaves
# the hole.  The free space map, which names blocks, goes too (an index
# without one is read as having none).  The standby is done.
$standby->stop;
$primary->safe_psql($db, "SELECT pg_drop_replication_slot('standby')");
$primary->safe_psql(
	$db, q{
CREATE TABLE old (id int PRIMARY KEY, v vector(32));
INSERT INTO old SELECT i, vec(i) FROM generate_series(1, 1500) i;
CREATE INDEX old_l2 ON old USING omendb (v);
});
my $old_path = index_file($primary, 'old_l2');
$primary->stop;
{
	my $bytes = read_file($old_path);
	my $meta = substr($bytes, 0, $BLCKSZ);
	is(u32($meta, $META{nquant_blocks}), 2, 'a new 32-d index has two quantizer pages');
	substr($meta, $META{nquant_blocks}, 4) = pack('L', 1);
	substr($meta, $META{first_node_block}, 4) = pack('L', 2);
	substr($meta, $META{insert_block}, 4) = pack('L', u32($meta, $META{insert_block}) - 1);
	my $counted = u32($meta, $META{counted_until});
	substr($meta, $META{counted_until}, 4) = pack('L', $counted - 1)
	  if $counted != 0 && $counted != 0xFFFFFFFF;
	substr($meta, $PD_LOWER, 2) = pack('S', $META{quant_sets});
	substr($meta, $META{quant_sets}, $META_END - $META{quant_sets}) = "\0" x ($META_END - $META{quant_sets});
	write_file($old_path, $meta . substr($bytes, $BLCKSZ, $BLCKSZ) . substr($bytes, 3 * $BLCKSZ));
	unlink("${old_path}_fsm");
}
$primary->start;

my $old_sql = "SELECT count(*), string_agg(d::text, ',') FROM (SELECT v <-> vec(7) AS d FROM old ORDER BY v <-> vec(7)) s";
sub old_exact
{
	my ($label) = @_;
	is($primary->safe_psql($db, "SET enable_seqscan = off; SET omendb.search_list_size = 10000; $old_sql"),
		$primary->safe_psql($db, "SET enable_indexscan = off; SET enable_bitmapscan = off; $old_sql"),
		"one parameter set, $label: an exhaustive index scan returns every row in order");
}
omendb_check_ok($primary, $db, 'old_l2', 'one parameter set: omendb_check passes, with the heap check',
	heapallindexed => 1, live_nodes => 1500, clamped_nodes => 0);
old_exact('as read');

# Rows at ten times the scale clamp; VACUUM cannot refit, and leaves them.
$primary->safe_psql($db, q{
INSERT INTO old SELECT i, vec(i) * array_fill(10, ARRAY[32])::real[]::vector FROM generate_series(1501, 1700) i;
DELETE FROM old WHERE id % 9 = 4;
VACUUM old;
});
my $row = omendb_check_ok($primary, $db, 'old_l2',
	'one parameter set, after inserts, deletes and VACUUM: omendb_check passes', heapallindexed => 1);
cmp_ok($row->{clamped_nodes}, '>', 0, 'one parameter set: VACUUM does not refit, the new rows still clamp')
  if $row;
old_exact('after inserts, deletes and VACUUM');

$primary->stop;
{
	my $bytes = read_file($old_path);
	is(u16($bytes, $PD_LOWER), $META{quant_sets}, 'one parameter set: the meta page keeps its layout');
	is(u32($bytes, $META{nquant_blocks}), 1, 'one parameter set: and its one quantizer page');
}

done_testing();
