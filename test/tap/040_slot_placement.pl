# TAP: an insert that finds free slots takes one on a page that holds its
# neighbours.
#
# A search meets the siblings of one neighbour list together, and the
# build numbers them onto shared pages; a node placed anywhere else costs
# each search that meets it a page visit of its own.  So an insert, once
# it knows its out-neighbours, takes a free slot on the page holding most
# of them if that page has one, and only then one the free space map
# names (src/README.omendb, "Deletion and slot reuse").  Here a few rows
# are deleted, few enough that VACUUM frees their slots and moves nothing
# ("Moving nodes"), and new rows are inserted into those slots.  Pinned
# down, from the node pages as pageinspect reads them: at least half the
# new rows lie on a page with one of their out-neighbours (80 of the 100
# do; with the slots taken in the map's order, 2 did), the index did not
# grow, every new row finds itself, and omendb_check passes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

skip_unless_little_endian();

my $node = omen_node('primary', conf => ['autovacuum = off']);
my $db = 'postgres';
my $NROWS = 10000;
my $NDELETE = 200;				# 2%: VACUUM frees them and moves nothing
my $NINSERT = 100;

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE EXTENSION pageinspect;
CREATE TABLE items (id int PRIMARY KEY, v vector(16)) WITH (autovacuum_enabled = off);
INSERT INTO items SELECT i, @{[ wave_vec_sql('i', 16) ]} FROM generate_series(1, $NROWS) i;
CREATE INDEX items_v ON items USING omendb (v);
DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY hashint4(id) LIMIT $NDELETE);
VACUUM items;
});
my $bytes_before = $node->safe_psql($db, "SELECT pg_relation_size('items_v')");
is($node->safe_psql($db, "SELECT free_nodes FROM omendb_index_stats('items_v')"),
	$NDELETE, "VACUUM freed the $NDELETE deleted rows' slots and moved no node into them");

$node->safe_psql($db,
	"INSERT INTO items SELECT i, @{[ wave_vec_sql('i', 16) ]} FROM generate_series($NROWS + 1, $NROWS + $NINSERT) i"
);
is($node->safe_psql($db, "SELECT pg_relation_size('items_v')"),
	$bytes_before, "the $NINSERT new rows took free slots: the index did not grow");
is($node->safe_psql($db, "SELECT free_nodes FROM omendb_index_stats('items_v')"),
	$NDELETE - $NINSERT, 'each new row took one free slot');

# ------------------------------------------------ the node pages, as read

# Meta page fields (after the 24-byte page header): nodes_per_page (uint16
# at 40), first_node_block (uint32 at 48).  Node header: heap TID (block
# hi, block lo, offset: uint16 each), flags (uint8 at 6), nneighbors
# (uint16 at 8), neighbours (uint32) from 20.
my $BLCKSZ = 8192;
my $nblocks = $node->safe_psql($db, "SELECT pg_relation_size('items_v') / $BLCKSZ");
my $raw = pack(
	'H*',
	$node->safe_psql(
		$db,
		"SELECT string_agg(encode(get_raw_page('items_v', b::int), 'hex'), '' ORDER BY b)
		 FROM generate_series(0, $nblocks - 1) b"));
my $nodes_per_page = u16($raw, 24 + 40);
my $first_node_block = u32($raw, 24 + 48);

sub node_block
{
	my ($id) = @_;
	return $first_node_block + int($id / $nodes_per_page);
}

# heap TID "(block,offset)" => [ node's block, [ its neighbours' blocks ] ]
my %node_of;
for my $blkno ($first_node_block .. $nblocks - 1)
{
	my $page = $blkno * $BLCKSZ;
	my $nitems = (u16($raw, $page + 12) - 24) / 4;
	for my $i (1 .. $nitems)
	{
		my $at = $page + (u32($raw, $page + 24 + 4 * ($i - 1)) & 0x7FFF);
		next unless unpack('C', substr($raw, $at + 6, 1)) == 1;    # live
		my $tid = sprintf('(%d,%d)',
			u16($raw, $at) * 65536 + u16($raw, $at + 2), u16($raw, $at + 4));
		my @nbr_blocks = map { node_block(u32($raw, $at + 20 + 4 * $_)) }
		  (0 .. u16($raw, $at + 8) - 1);
		$node_of{$tid} = [ $blkno, \@nbr_blocks ];
	}
}

my @new_tids = split /\n/,
  $node->safe_psql($db, "SELECT ctid FROM items WHERE id > $NROWS ORDER BY id");
my ($found, $near) = (0, 0);
for my $tid (@new_tids)
{
	my $n = $node_of{$tid} or next;
	$found++;
	$near++ if grep { $_ == $n->[0] } @{ $n->[1] };
}
is($found, $NINSERT, 'each new row has a live node on the node pages');
note("$near of $NINSERT new rows lie on a page with one of their out-neighbours");
cmp_ok($near, '>=', $NINSERT / 2,
	'at least half the new rows lie on a page with one of their out-neighbours');

# ------------------------------------------------------ and they are found

is( $node->safe_psql(
		$db, qq{
SET enable_seqscan = off;
SELECT count(*) FROM items t
WHERE t.id > $NROWS
  AND t.id NOT IN (SELECT u.id FROM items u ORDER BY u.v <-> t.v LIMIT 3)}),
	0,
	'every new row is among the first 3 rows the index returns for its own vector');
omendb_check_ok($node, $db, 'items_v',
	'omendb_check passes, with the heap check',
	heapallindexed => 1,
	live_nodes => $NROWS - $NDELETE + $NINSERT,
	free_nodes => $NDELETE - $NINSERT,
	reachable => 1);

$node->stop;
done_testing();
