# TAP: the meta page records the dimensions a code encodes (code_dims)
# beside the code's bytes (code_size), and every reader checks it.
#
#   - a build writes code_dims: the vector's dimension, one more for inner
#     product (the MIPS-to-L2 transform's dimension), and pd_lower covers
#     it;
#   - a code_dims that does not follow from the dimension and metric is
#     damage: omendb_check, a scan and an INSERT fail with
#     ERRCODE_INDEX_CORRUPTED naming the meta page's layout, and REINDEX
#     repairs the index;
#   - so is a quantizer kind that names no quantizer;
#   - a meta page that ends before code_dims (pd_lower short of it, the
#     bytes zero), as indexes were written before the field existed, is
#     read with the value the quantizer gives: omendb_check with the heap
#     check passes, scans answer as a sequential scan does, and inserts
#     go on.
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

my $node = omen_node('metadims', init => { no_data_checksums => 1 }, conf => ['autovacuum = off']);
my $db = 'postgres';

# OmenMetaPageData right after the 24-byte page header ($PD_LOWER and
# $META_END come from OmenTest).
my %META = (quantizer => 24 + 12, code_size => 24 + 28, code_dims => 24 + 68);

sub vec_sql
{
	my ($i) = @_;
	return wave_vec_sql($i, 32);
}
my $query_vec = '[' . join(',', map { sprintf('%.2f', sin($_)) } 1 .. 32) . ']';

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(32));
INSERT INTO items SELECT i, @{[ vec_sql('i') ]} FROM generate_series(1, 400) i;
CREATE INDEX items_l2 ON items USING omendb (v);
CREATE INDEX items_ip ON items USING omendb (v vector_ip_ops);
CREATE SEQUENCE next_id START 100001;
});

my %order = (items_l2 => "v <-> '$query_vec'", items_ip => "v <#> '$query_vec'");
my %scan =
  map { $_ => "SET enable_seqscan = off; SELECT id FROM items ORDER BY $order{$_} LIMIT 10" }
  keys %order;
my %seqscan =
  map { $_ => "SET enable_indexscan = off; SELECT id FROM items ORDER BY $order{$_} LIMIT 10" }
  keys %order;
my $insert_sql =
  "INSERT INTO items SELECT nextval('next_id'), @{[ vec_sql(401) ]}";

sub index_file
{
	my ($index) = @_;
	return $node->data_dir . '/'
	  . $node->safe_psql($db, "SELECT pg_relation_filepath('$index')");
}

# The index file after a clean shutdown; the cluster is left stopped.
sub stopped_file
{
	my ($index) = @_;
	my $path = index_file($index);
	$node->stop;
	return ($path, read_file($path));
}

sub sql_error
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, "\\set VERBOSITY verbose\n$sql", stdout => \$out, stderr => \$err);
	return $err;
}

my %healthy;
for my $index ('items_l2', 'items_ip')
{
	my ($path, $bytes) = stopped_file($index);
	$healthy{$index} = $bytes;
	$node->start;
	my $dims = $index eq 'items_ip' ? 33 : 32;
	is(u32($bytes, $META{code_dims}), $dims,
		"$index: the meta page records $dims code dimensions");
	is(u32($bytes, $META{code_size}), $dims,
		"$index: and $dims code bytes, one a dimension for sq8");
	is(u16($bytes, $PD_LOWER), $META_END,
		"$index: pd_lower covers code_dims, so generic xlog keeps it");
}

# Damage the meta page of items_l2, start, and try the readers.
sub damaged_meta
{
	my ($name, $detail, $damage) = @_;
	my ($path) = stopped_file('items_l2');
	my $bytes = $healthy{items_l2};

	$damage->(\$bytes);
	write_file($path, $bytes);
	$node->start;

	my $err = sql_error("SELECT * FROM omendb_check('items_l2')");
	like($err, qr/ERROR:\s+XX002: index "items_l2" is corrupted.*DETAIL:\s+$detail/s,
		"$name: omendb_check reports the damaged meta page");
	like(sql_error($scan{items_l2}), qr/ERROR:\s+XX002: .*DETAIL:\s+$detail/s,
		"$name: an index scan fails cleanly");
	like(sql_error($insert_sql), qr/ERROR:\s+XX002: .*DETAIL:\s+$detail/s,
		"$name: an INSERT fails cleanly");

	$node->safe_psql($db, 'REINDEX INDEX items_l2');
	omendb_check_ok($node, $db, 'items_l2', "$name: REINDEX repairs the index",
		heapallindexed => 1, live_nodes => 400);
	($path, $healthy{items_l2}) = stopped_file('items_l2');
	$node->start;
}

damaged_meta(
	'code_dims one short of the dimension',
	qr/Block 0: meta page node layout \(32 dimensions, 31 code dimensions, code size 32, node size \d+, \d+ nodes a page\) is inconsistent/,
	sub { substr(${ $_[0] }, $META{code_dims}, 4) = pack('L', 31); });

damaged_meta(
	'a quantizer kind that names no quantizer',
	qr/Block 0: meta page has unknown quantizer 7/,
	sub { substr(${ $_[0] }, $META{quantizer}, 2) = pack('S', 7); });

# Both indexes, their meta pages cut back to end before code_dims.
my %path;
for my $index ('items_l2', 'items_ip')
{
	my $bytes;
	($path{$index}, $bytes) = stopped_file($index);
	substr($bytes, $PD_LOWER, 2) = pack('S', $META{code_dims});
	substr($bytes, $META{code_dims}, 4) = pack('L', 0);
	write_file($path{$index}, $bytes);
	$node->start;
}
for my $index ('items_l2', 'items_ip')
{
	omendb_check_ok($node, $db, $index,
		"$index: a meta page without code_dims passes omendb_check, with the heap check",
		heapallindexed => 1, live_nodes => 400, reachable => 1);
	like($node->safe_psql($db, "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY $order{$index} LIMIT 10"),
		qr/Index Scan using $index /,
		"$index: the scan below uses the index");
	is($node->safe_psql($db, $scan{$index}), $node->safe_psql($db, $seqscan{$index}),
		"$index: a meta page without code_dims: the index scan answers as a sequential scan does");
}
$node->safe_psql($db, $insert_sql);
for my $index ('items_l2', 'items_ip')
{
	omendb_check_ok($node, $db, $index,
		"$index: a meta page without code_dims takes an INSERT",
		heapallindexed => 1, live_nodes => 401);
}
$node->stop;
for my $index ('items_l2', 'items_ip')
{
	my $bytes = read_file($path{$index});
	is(u16($bytes, $PD_LOWER), $META{code_dims},
		"$index: the INSERT left the meta page as it was written, without code_dims");
}

done_testing();
