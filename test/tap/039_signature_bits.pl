# TAP: the bits an array element sets in a signature label are the index's
# own, recorded on its meta page (signature_bits).
#
#   - a build writes two bits an element, and pd_lower covers the field;
#   - a meta page that ends before signature_bits (pd_lower short of it,
#     the bytes zero), as indexes were written before the field existed,
#     is read as one bit an element: inserts label their rows so (the heap
#     check of omendb_check, which recomputes every row's labels, passes),
#     and every array filter (&&, @>, <@, =) returns exactly the rows a
#     sequential scan returns, after deletes, VACUUM and inserts into the
#     freed slots too;
#   - REINDEX gives the index two bits an element again, with the same
#     answers; omendb_index_stats shows the bits throughout.
#
# Checksums are off (initdb's default before PostgreSQL 18, asked for from
# 18 on), so the pages can be changed freely.
# The offsets follow src/omendb.h and PostgreSQL's page layout on a
# little-endian machine.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

skip_unless_little_endian();

my $node = omen_node('sigbits', init => { no_data_checksums => 1 }, conf => ['autovacuum = off']);
my $db = 'postgres';

# OmenMetaPageData right after the 24-byte page header ($PD_LOWER and
# $META_END come from OmenTest).
my $SIGNATURE_BITS = 24 + 132;

# rows from..to: 8 pseudo-random coordinates, 1 to 5 of 60 tags
sub insert_rows
{
	my ($from, $to) = @_;
	$node->safe_psql(
		$db, qq{
INSERT INTO items
SELECT i, (SELECT array_agg((hashint4(i * 8 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
           FROM generate_series(0, 7) j),
       ARRAY(SELECT (hashint4(i * 5 + k) & 65535) % 60
             FROM generate_series(1, 1 + (hashint4(i) & 65535) % 5) k)
FROM generate_series($from, $to) i});
}

$node->safe_psql(
	$db, q{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(8), tags int[]);
CREATE INDEX items_tags ON items USING omendb (v, tags);
});

sub index_file
{
	return $node->data_dir . '/'
	  . $node->safe_psql($db, "SELECT pg_relation_filepath('items_tags')");
}

# The meta page after a clean shutdown; the cluster is left stopped.
sub stopped_meta
{
	my $path = index_file();
	$node->stop;
	return ($path, read_file($path));
}

my @filters = (
	'tags && \'{7}\'', 'tags && \'{7,31,59}\'', 'tags @> \'{3}\'',
	'tags @> \'{3,4}\'', 'tags <@ \'{1,2,3,4,5,6,7,8,9,10}\'', 'tags = \'{12}\'');

# Every filter: the index returns the rows a sequential scan returns, in
# distance order (the whole result, no LIMIT).
sub filters_exact
{
	my ($when) = @_;
	for my $f (@filters)
	{
		my $sql = "SELECT id FROM items WHERE $f ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]'";
		my $seq = $node->safe_psql($db, "SET enable_indexscan = off; $sql");
		my $idx = $node->safe_psql($db,
			"SET enable_seqscan = off; SET omendb.search_list_size = 10000; "
			  . "EXPLAIN (COSTS OFF) $sql");
		like($idx, qr/Index Scan using items_tags/, "$when: $f scans the index");
		$idx = $node->safe_psql($db,
			"SET enable_seqscan = off; SET omendb.search_list_size = 10000; $sql");
		is($idx, $seq, "$when: $f returns the rows a sequential scan returns");
	}
}

my ($path, $bytes) = stopped_meta();
is(u32($bytes, $SIGNATURE_BITS), 2, 'a build records two signature bits an element');
is(u16($bytes, $PD_LOWER), $META_END, 'pd_lower covers signature_bits, so generic xlog keeps it');

# As written before the field: pd_lower short of it, its bytes zero.
substr($bytes, $SIGNATURE_BITS, 4) = "\0" x 4;
substr($bytes, $PD_LOWER, 2) = pack('S', $SIGNATURE_BITS);
write_file($path, $bytes);
$node->start;

is($node->safe_psql($db, "SELECT signature_bits FROM omendb_index_stats('items_tags')"),
	'1', 'omendb_index_stats shows one bit an element');
insert_rows(1, 3000);
omendb_check_ok($node, $db, 'items_tags',
	'an index whose meta page predates signature_bits labels inserted rows with one bit an element',
	heapallindexed => 1, live_nodes => 3000);
filters_exact('one bit an element');

$node->safe_psql($db, 'DELETE FROM items WHERE id % 7 = 0; VACUUM items');
insert_rows(3001, 3300);
omendb_check_ok($node, $db, 'items_tags',
	'one bit an element: after deletes, VACUUM and inserts into the freed slots, the heap check passes',
	heapallindexed => 1, live_nodes => 3000 - int(3000 / 7) + 300);
filters_exact('one bit an element, after VACUUM and inserts');

($path, $bytes) = stopped_meta();
is(u32($bytes, $SIGNATURE_BITS), 0, 'VACUUM and inserts leave the old meta page one bit an element')
  if u16($bytes, $PD_LOWER) == $SIGNATURE_BITS;
is(u32($bytes, $SIGNATURE_BITS), 1, 'a meta page grown to the current layout says one bit an element')
  if u16($bytes, $PD_LOWER) == $META_END;
$node->start;

$node->safe_psql($db, 'REINDEX INDEX items_tags');
($path, $bytes) = stopped_meta();
is(u32($bytes, $SIGNATURE_BITS), 2, 'REINDEX gives the index two bits an element');
$node->start;
is($node->safe_psql($db, "SELECT signature_bits FROM omendb_index_stats('items_tags')"),
	'2', 'omendb_index_stats shows two bits an element after REINDEX');
omendb_check_ok($node, $db, 'items_tags', 'after REINDEX the heap check passes',
	heapallindexed => 1, live_nodes => 3000 - int(3000 / 7) + 300);
filters_exact('two bits an element, after REINDEX');

$node->stop;
done_testing();
