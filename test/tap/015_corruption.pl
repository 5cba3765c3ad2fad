# TAP: damaged omendb index pages are reported, never followed.
#
# An index is built and its relation file saved.  Then, one scenario at a
# time, the cluster is stopped, bytes of the file are overwritten (a page of
# garbage, a wrong magic, impossible pd_lower/pd_upper, a misplaced item, a
# neighbour id far past the last node, more neighbours than slots, a meta
# page that no longer adds up, a meta page of another format version), and
# the cluster started again.  Each time:
#
#   - omendb_check reports the damage: ERRCODE_INDEX_CORRUPTED (XX002),
#     'index "..." is corrupted', naming the block and what is wrong;
#   - an ORDER BY ... LIMIT query, an INSERT and a VACUUM each fail with a
#     clean ERROR of the same kind;
#   - no backend crashes (the server log never says "terminated by signal");
#   - REINDEX repairs the index: omendb_check, with the heap cross-check,
#     passes again and the query answers.
#
# A page whose header is insane is rejected by PostgreSQL's own page
# verification when the buffer manager reads it from disk, before omendb
# sees it: that raises ERRCODE_DATA_CORRUPTED (XX001, "invalid page in
# block"), which those scenarios expect instead.
#
# Damage that leaves the pages well-formed but the index wrong about its
# table (a code that is not the row's vector's, a node pointing at another
# row, an error bound too small, or infinite for a row whose error is not)
# passes the page checks and is found by omendb_check(index,
# heapallindexed => true).  An error bound that is NaN or negative is no
# bound at all: the page checks of omendb_check find it, while scans and
# VACUUM carry on.  So do zero nodes of a cosine index (zero vectors,
# outside the graph) that break their rules: a code byte set, a graph node
# with norm 0, an edge to one, one as the entry point, or one that no
# longer looks like a zero node (the heap check).  And so do free slots
# that break theirs: a free slot that is not all zero but for its flags, a
# page whose count of free slots is wrong, an edge of a live node to a free
# slot, one as the entry point.  A cosine index's meta page may name no entry point,
# but only while it has no graph node.
#
# A RaBitQ index's quantizer pages are checked as they are read: a
# centroid value that is NaN, a header whose bits disagree with the meta
# page's code size, a page whose seed or radius differs from the first
# page's of its set make omendb_check, scans and inserts fail with
# XX002, and REINDEX repairs them; the seed of a set's only page, which
# nothing on the pages can check, is found by the heap check.
#
# Checksums are off (initdb's default before PostgreSQL 18, asked for from
# 18 on), so the pages can be changed freely.
# The file is read and written as this machine's bytes; the offsets below
# follow src/omendb.h and PostgreSQL's page layout on a little-endian
# machine.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

skip_unless_little_endian();

my $node = omen_node('corrupt', init => { no_data_checksums => 1 }, conf => ['autovacuum = off']);
my $db = 'postgres';
my $BLCKSZ = 8192;

# 32-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i) = @_;
	return wave_vec_sql($i, 32);
}
my $query_vec = '[' . join(',', map { sprintf('%.2f', sin($_)) } 1 .. 32) . ']';

is($node->safe_psql($db, 'SHOW data_checksums'), 'off', 'data checksums are off');
$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(32));
INSERT INTO items SELECT i, @{[ vec_sql('i') ]} FROM generate_series(1, 800) i;
CREATE INDEX items_l2 ON items USING omendb (v);
CREATE SEQUENCE next_id START 100001;
});
like(
	$node->safe_psql($db, "SELECT nodes, live_nodes, clamped_nodes FROM omendb_check('items_l2', true)"),
	qr/^800\|800\|0$/,
	'the fresh index passes omendb_check, with the heap check, and no code of the build clamps');

# ---------------------------------------------------------------- layout

sub index_file
{
	return $node->data_dir . '/'
	  . $node->safe_psql($db, "SELECT pg_relation_filepath('items_l2')");
}

# Fields of the meta page: OmenMetaPageData right after the 24-byte page
# header.
my %META_OFFSET = (
	magic => 0, version => 4, dimensions => 8, ip_max_norm => 24, max_degree => 16, code_size => 28,
	node_size => 36, nodes_per_page => 40, nquant_blocks => 44, first_node_block => 48, entry_node => 52,
	insert_block => 56, walk_rate => 64, deleted_nodes => 72, free_nodes => 76,
	label_size => 32, label_stride => 128, sketch_words => 140);

sub meta_field
{
	my ($bytes, $field) = @_;
	my $at = 24 + $META_OFFSET{$field};
	return $field =~ /^(dimensions|max_degree|nodes_per_page)$/
	  ? unpack('S', substr($bytes, $at, 2))
	  : unpack('L', substr($bytes, $at, 4));
}

# Byte offset in the file of the item at (block, offset): its line pointer
# (lp_off: 15 bits, lp_flags: 2, lp_len: 15) is at 24 + 4 (offset - 1).
sub item_at
{
	my ($bytes, $blkno, $off) = @_;
	my $lp = unpack('L', substr($bytes, $blkno * $BLCKSZ + 24 + 4 * ($off - 1), 4));
	return $blkno * $BLCKSZ + ($lp & 0x7FFF);
}

# Node header: heap TID (6 bytes), flags, reserved, nneighbors (uint16 at
# 8), error (float4 at 12), norm (16); neighbours (uint32) from 20; then
# the code.
sub node_at
{
	my ($bytes, $layout, $node) = @_;
	my $blkno = $layout->{first_node_block} + int($node / $layout->{nodes_per_page});
	return item_at($bytes, $blkno, $node % $layout->{nodes_per_page} + 1);
}

# ------------------------------------------------------------- scenarios

# Each scenario changes a copy of the healthy file.  'expect' is the
# SQLSTATE every reader raises, 'detail' what omendb_check's message says.
my $garbage_seed = 20240601;
sub garbage
{
	my ($n) = @_;
	srand($garbage_seed++);
	return join('', map { chr(int(rand(256))) } 1 .. $n);
}

my @scenarios = (
	{
		name => 'a node page of random bytes',
		expect => qr/XX00[12]/,
		detail => qr/invalid page in block|Block \d+: /,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, $l->{entry_block} * $BLCKSZ, $BLCKSZ) = garbage($BLCKSZ);
		},
	},
	{
		name => 'random bytes under a valid page header',
		expect => qr/XX002/,
		detail => qr/Block \d+: not an omendb page/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, $l->{entry_block} * $BLCKSZ + 24, $BLCKSZ - 24) = garbage($BLCKSZ - 24);
		},
	},
	{
		name => 'a wrong magic number in the special space',
		expect => qr/XX002/,
		detail => qr/Block \d+: not an omendb page: magic 0xDEADBEEF/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, $l->{entry_block} * $BLCKSZ + $BLCKSZ - 4, 4) = pack('L', 0xDEADBEEF);
		},
	},
	{
		name => 'pd_upper past pd_special (an insane page header)',
		expect => qr/XX001/,
		detail => qr/invalid page in block/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, $l->{entry_block} * $BLCKSZ + 14, 2) = pack('S', $BLCKSZ - 2);
		},
	},
	{
		name => 'pd_upper above the node items',
		expect => qr/XX002/,
		detail => qr/Block \d+: pd_upper is \d+, but \d+ nodes of \d+ bytes under the special space begin at/,
		damage => sub {
			my ($b, $l) = @_;
			my $special = unpack('S', substr($$b, $l->{entry_block} * $BLCKSZ + 16, 2));
			substr($$b, $l->{entry_block} * $BLCKSZ + 14, 2) = pack('S', $special);
		},
	},
	{
		name => 'pd_lower claiming more line pointers than nodes fit a page',
		expect => qr/XX002/,
		detail => qr/Block \d+: \d+ line pointers .* holds at most \d+ nodes/,
		damage => sub {
			my ($b, $l) = @_;
			my $upper = unpack('S', substr($$b, $l->{entry_block} * $BLCKSZ + 14, 2));
			substr($$b, $l->{entry_block} * $BLCKSZ + 12, 2) = pack('S', $upper);
		},
	},
	{
		name => 'a line pointer moved off its node',
		expect => qr/XX002/,
		detail => qr/Block \d+, offset \d+ \(node \d+\): line pointer .* is not a node of \d+ bytes/,
		damage => sub {
			my ($b, $l) = @_;
			my $at = $l->{entry_block} * $BLCKSZ + 24 + 4 * ($l->{entry_offset} - 1);
			my $lp = unpack('L', substr($$b, $at, 4));
			substr($$b, $at, 4) = pack('L', $lp - 8);
		},
	},
	{
		name => 'a neighbour id far past the last node',
		expect => qr/XX002/,
		detail => qr/neighbour 4294967280 is not an allocated node/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, $l->{entry_item} + 20, 4) = pack('L', 0xFFFFFFF0);
		},
	},
	{
		# VACUUM follows no edge and reads no page twice: it checks that
		# neighbour ids lie on existing pages, and this one does (on the
		# last node page, past its last node).  Scans fail on reaching it.
		name => 'a neighbour id one past the last node',
		expect => qr/XX002/,
		detail => qr/neighbour 800 is not an allocated node \(800 nodes are allocated\)/,
		vacuum_passes => 1,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, $l->{entry_item} + 20, 4) = pack('L', 800);
		},
	},
	{
		name => 'more neighbours than a node has slots',
		expect => qr/XX002/,
		detail => qr/Block \d+, offset \d+ \(node \d+\): \d+ neighbours, more than the \d+ slots of a node/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, $l->{entry_item} + 8, 2) = pack('S', $l->{max_degree} + 1);
		},
	},
	{
		name => 'a meta page whose dimension no longer matches its node layout',
		expect => qr/XX002/,
		detail => qr/Block 0: meta page node layout .* is inconsistent/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, 24 + $META_OFFSET{dimensions}, 2) = pack('S', 33);
		},
	},
	{
		name => 'a meta page with a wrong magic number',
		expect => qr/XX002/,
		detail => qr/Block 0: meta page magic is 0x00000000/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, 24 + $META_OFFSET{magic}, 4) = pack('L', 0);
		},
	},
	{
		name => 'an infinite maximum norm in the meta page',
		expect => qr/XX002/,
		detail => qr/Block 0: meta page has maximum norm inf/i,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, 24 + $META_OFFSET{ip_max_norm}, 4) = pack('f', 9**9**9);
		},
	},
	{
		name => 'a walk rate beyond the neighbour slots in the meta page',
		expect => qr/XX002/,
		detail => qr/Block 0: meta page has walk rate 1000 for \d+ neighbour slots/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, 24 + $META_OFFSET{walk_rate}, 4) = pack('f', 1000);
		},
	},
	{
		name => 'a meta page of another format version',
		expect => qr/0A000/,
		detail => qr/index "items_l2" has omendb format version 2, this library reads version 1.*HINT:\s+REINDEX it\./s,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, 24 + $META_OFFSET{version}, 4) = pack('L', 2);
		},
	});

# The SQLSTATE and message of a statement's error ('' if none).
sub sql_error
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, "\\set VERBOSITY verbose\n$sql", stdout => \$out, stderr => \$err);
	return $err;
}

my $scan_sql =
  "SET enable_seqscan = off; SELECT id FROM items ORDER BY v <-> '$query_vec' LIMIT 5";
my $insert_sql =
  "INSERT INTO items SELECT i, @{[ vec_sql('i') ]} FROM (SELECT nextval('next_id')::int AS i) s";

my $healthy;

# Apply one damage to the healthy file, start, and try every reader.
sub run_scenario
{
	my ($s, %opts) = @_;
	my $name = $s->{name};
	my $path = index_file();
	my $bytes = $healthy;
	my %layout;

	$layout{$_} = meta_field($healthy, $_) for keys %META_OFFSET;
	$layout{entry_block} = $layout{first_node_block} +
	  int($layout{entry_node} / $layout{nodes_per_page});
	$layout{entry_offset} = $layout{entry_node} % $layout{nodes_per_page} + 1;
	$layout{entry_item} = node_at($healthy, \%layout, $layout{entry_node});
	$s->{damage}->(\$bytes, \%layout);

	$node->stop;
	write_file($path, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;

	my $err = sql_error("SELECT * FROM omendb_check('items_l2')");
	note("$name: omendb_check says:\n$err");
	like($err, qr/ERROR:\s+$s->{expect}: /, "$name: omendb_check fails with the expected SQLSTATE");
	like($err, $s->{detail}, "$name: omendb_check says what is wrong");
	if ($err =~ /XX002/)
	{
		like($err, qr/index "items_l2" is corrupted.*HINT:\s+REINDEX it\./s,
			"$name: the message names the index and says to REINDEX it");
	}
	$err = sql_error($scan_sql);
	note("$name: the scan says:\n$err");
	like($err, qr/ERROR:\s+$s->{expect}: /,
		"$name: an ORDER BY ... LIMIT index scan fails cleanly");
	like(sql_error($insert_sql), qr/ERROR:\s+$s->{expect}: /,
		"$name: an INSERT fails cleanly");
	if ($s->{vacuum_passes})
	{
		is(sql_error('VACUUM items'), '', "$name: VACUUM, which follows no edge, succeeds");
	}
	else
	{
		like(sql_error('VACUUM items'), qr/ERROR:\s+$s->{expect}: /,
			"$name: VACUUM fails cleanly");
	}

	my $log = slurp_file($node->logfile, $log_from);
	unlike($log, qr/terminated by signal|PANIC/, "$name: no backend crashed");

	$node->safe_psql($db, 'REINDEX INDEX items_l2');
	like(
		$node->safe_psql($db, "SELECT nodes = live_nodes, live_nodes FROM omendb_check('items_l2', true)"),
		qr/^t\|800$/, "$name: after REINDEX, omendb_check passes with the heap check");
	is($node->safe_psql($db, "$scan_sql"), $node->safe_psql($db, "SET enable_indexscan = off; $scan_sql"),
		"$name: after REINDEX, the index scan answers as a sequential scan does")
	  if $opts{compare_scan};
}

# The healthy index, as it is on disk after a clean shutdown.
$node->stop;
$node->start;
my $healthy_path = index_file();
$node->stop;
$healthy = read_file($healthy_path);
$node->start;

for my $s (@scenarios)
{
	run_scenario($s, compare_scan => $s == $scenarios[-1]);
}

# ------------------------------------------- damage only the heap check sees

# Well-formed pages that say the wrong things about the table: the page
# checks, scans and VACUUM carry on; omendb_check with heapallindexed finds
# the problem.  And error bounds that are no bounds (page_check), which
# scans and VACUUM never act on but the page checks find.  Node 5 is any
# node but the entry point.
my @heap_scenarios = (
	{
		name => 'a code byte changed',
		detail => qr/Block \d+, offset \d+ \(node 5\): code byte 3 is \d+, but heap row \(\d+,\d+\) encodes to \d+/,
		damage => sub {
			my ($b, $at, $l) = @_;
			my $code = $at + 20 + 4 * $l->{max_degree} + 3;
			substr($$b, $code, 1) = chr((ord(substr($$b, $code, 1)) + 128) % 256);
		},
	},
	{
		name => "a live node given another row's heap TID",
		detail => qr/Heap row \(\d+,\d+\) has (no live node|2 live nodes)/,
		damage => sub {
			my ($b, $at, $l) = @_;
			my $other = node_at($$b, $l, 6);
			substr($$b, $at, 6) = substr($$b, $other, 6);
		},
	},
	{
		name => 'a quantization error bound of zero',
		detail => qr/\(node 5\): quantization error bound 0 is below the true error/,
		damage => sub {
			my ($b, $at, $l) = @_;
			substr($$b, $at + 12, 4) = pack('f', 0);
		},
	},
	{
		# +infinity is what the encoder stores for an error beyond float
		# range, so the page checks accept it; this row's error is small
		name => 'a quantization error bound of +infinity',
		detail => qr/\(node 5\): quantization error bound Infinity, but heap row \(\d+,\d+\) encodes with error bound \d[\d.e+-]*\./,
		damage => sub {
			my ($b, $at, $l) = @_;
			substr($$b, $at + 12, 4) = pack('L', 0x7F800000);
		},
	},
	{
		name => 'a quantization error bound of NaN',
		page_check => 1,
		detail => qr/Block \d+, offset \d+ \(node 5\): quantization error bound NaN\./,
		damage => sub {
			my ($b, $at, $l) = @_;
			substr($$b, $at + 12, 4) = pack('L', 0x7FC00000);
		},
	},
	{
		name => 'a negative quantization error bound',
		page_check => 1,
		detail => qr/Block \d+, offset \d+ \(node 5\): quantization error bound -0\.5\./,
		damage => sub {
			my ($b, $at, $l) = @_;
			substr($$b, $at + 12, 4) = pack('f', -0.5);
		},
	});

for my $s (@heap_scenarios)
{
	my $name = $s->{name};
	my $path = index_file();
	my %layout;

	$node->stop;
	my $bytes = read_file($path);
	$layout{$_} = meta_field($bytes, $_) for keys %META_OFFSET;
	$s->{damage}->(\$bytes, node_at($bytes, \%layout, 5), \%layout);
	write_file($path, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;

	my $err;
	if ($s->{page_check})
	{
		$err = sql_error("SELECT * FROM omendb_check('items_l2')");
		like($err, qr/ERROR:\s+XX002: index "items_l2" is corrupted/,
			"$name: omendb_check reports a corrupted index");
	}
	else
	{
		like($node->safe_psql($db, "SELECT nodes FROM omendb_check('items_l2')"),
			qr/^\d+$/, "$name: the page and graph checks pass");
		$err = sql_error("SELECT * FROM omendb_check('items_l2', true)");
		like($err, qr/ERROR:\s+XX002: index "items_l2" is corrupted/,
			"$name: omendb_check with heapallindexed reports a corrupted index");
	}
	like($err, $s->{detail}, "$name: and says what is wrong");
	is(sql_error("$scan_sql; VACUUM items"), '', "$name: scans and VACUUM still run");
	unlike(slurp_file($node->logfile, $log_from), qr/terminated by signal|PANIC/,
		"$name: no backend crashed");
	$node->safe_psql($db, 'REINDEX INDEX items_l2');
	like($node->safe_psql($db, "SELECT live_nodes FROM omendb_check('items_l2', true)"),
		qr/^\d+$/, "$name: after REINDEX, omendb_check passes with the heap check");
}

# ------------------------------------------------ zero nodes of a cosine index

# A cosine index holds each zero vector as a zero node: norm 0, error 0, an
# all-zero code, no neighbours, never a neighbour or the entry point (the
# build writes them after the graph's nodes).  Damage that breaks those
# rules is found by omendb_check's page and graph checks, or, for a zero
# node that no longer looks like one, by the heap check; scans without
# LIMIT still return every row, and VACUUM runs.
$node->safe_psql(
	$db, qq{
CREATE TABLE zitems (id int PRIMARY KEY, v vector(32));
INSERT INTO zitems
SELECT i, CASE WHEN i > 180 THEN array_fill(0::real, ARRAY[32]) ELSE @{[ vec_sql('i') ]} END
FROM generate_series(1, 200) i;
CREATE INDEX zitems_cos ON zitems USING omendb (v vector_cosine_ops);
});
like(
	$node->safe_psql($db, "SELECT nodes, live_nodes, reachable_live_nodes FROM omendb_check('zitems_cos', true)"),
	qr/^200\|200\|180$/,
	'the cosine index holds its 20 zero vectors as live nodes outside the graph');

my $zero_node = 190;    # written after the 180 graph nodes
my $zscan_sql = "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM zitems ORDER BY v <=> '$query_vec') s";

sub zindex_file
{
	return $node->data_dir . '/'
	  . $node->safe_psql($db, "SELECT pg_relation_filepath('zitems_cos')");
}

my @zero_scenarios = (
	{
		name => 'a zero node with a code byte set',
		detail => qr/\(node $zero_node\): zero-vector node \(norm 0\) with code byte 3 = 7, expected an all-zero code\./,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, node_at($$b, $l, $zero_node) + 20 + 4 * $l->{max_degree} + 3, 1) = chr(7);
		},
	},
	{
		name => 'a graph node with norm 0',
		detail => qr/\(node 5\): zero-vector node \(norm 0\) with [1-9]\d* neighbours and error bound [\d.e+-]+, expected none and 0\./,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, node_at($$b, $l, 5) + 16, 4) = pack('f', 0);
		},
	},
	{
		name => 'an edge to a zero node',
		detail => qr/\(node 5\): neighbour $zero_node is a zero-vector node, which the graph never links/,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, node_at($$b, $l, 5) + 20, 4) = pack('L', $zero_node);
		},
	},
	{
		name => 'a zero node as the entry point',
		detail => qr/Block 0: entry node $zero_node is a zero-vector node\./,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, 24 + $META_OFFSET{entry_node}, 4) = pack('L', $zero_node);
		},
	},
	{
		# (a cosine index's meta page may have no entry point: for a while
		# it holds only zero nodes)
		name => 'no entry point while graph nodes exist',
		detail => qr/Block 0: no entry node, but node 0 is neither a zero-vector node nor a free slot\./,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, 24 + $META_OFFSET{entry_node}, 4) = pack('L', 0xFFFFFFFF);
		},
	},
	{
		name => 'a zero node given norm 1',
		heap_check => 1,
		detail => qr/\(node $zero_node\): not a zero-vector node, but heap row \(\d+,\d+\) has a zero vector\./,
		damage => sub {
			my ($b, $l) = @_;
			substr($$b, node_at($$b, $l, $zero_node) + 16, 4) = pack('f', 1);
		},
	});

for my $s (@zero_scenarios)
{
	my $name = $s->{name};
	my $path = zindex_file();
	my %layout;

	$node->stop;
	my $bytes = read_file($path);
	$layout{$_} = meta_field($bytes, $_) for keys %META_OFFSET;
	is(unpack('f', substr($bytes, node_at($bytes, \%layout, $zero_node) + 16, 4)), 0,
		"$name: node $zero_node is a zero node before the damage");
	$s->{damage}->(\$bytes, \%layout);
	write_file($path, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;

	my $err;
	if ($s->{heap_check})
	{
		like($node->safe_psql($db, "SELECT nodes FROM omendb_check('zitems_cos')"),
			qr/^200$/, "$name: the page and graph checks pass");
		$err = sql_error("SELECT * FROM omendb_check('zitems_cos', true)");
	}
	else
	{
		$err = sql_error("SELECT * FROM omendb_check('zitems_cos')");
	}
	like($err, qr/ERROR:\s+XX002: index "zitems_cos" is corrupted/,
		"$name: omendb_check reports a corrupted index");
	like($err, $s->{detail}, "$name: and says what is wrong");
	is($node->safe_psql($db, $zscan_sql), '200', "$name: a scan without LIMIT returns every row");
	is(sql_error('VACUUM zitems'), '', "$name: VACUUM runs");
	unlike(slurp_file($node->logfile, $log_from), qr/terminated by signal|PANIC/,
		"$name: no backend crashed");
	$node->safe_psql($db, 'REINDEX INDEX zitems_cos');
	like($node->safe_psql($db, "SELECT live_nodes, reachable_live_nodes FROM omendb_check('zitems_cos', true)"),
		qr/^200\|180$/, "$name: after REINDEX, omendb_check passes with the heap check");
}

# ------------------------------------------------------------- free slots

# A free slot (VACUUM's, once it has taken every edge to a deleted node out
# of the graph) is all zero but for its flags, is counted in its page's
# free-slot count, and no live node's edge and no entry point names it.
# (A deleted node's edge may, while VACUUM frees a set of them.)  One is made
# here by hand in a small index: node $free_node's row is deleted, and the
# node turned into a free slot with the edges to it removed; omendb_check
# passes, with the heap check, and counts it.  Damage on top of that
# breaks one rule at a time, and omendb_check names it.
$node->safe_psql(
	$db, qq{
CREATE TABLE fitems (id int PRIMARY KEY, v vector(16));
INSERT INTO fitems SELECT i, (SELECT array_agg(sin(i * 0.37 * j + j * j))::real[] FROM generate_series(1, 16) j)
FROM generate_series(1, 300) i;
CREATE INDEX fitems_l2 ON fitems USING omendb (v) WITH (graph_degree = 8);
});
my $free_node = 7;

# (REINDEX, at the end only, gives the index another file)
my $findex_file = $node->data_dir . '/'
  . $node->safe_psql($db, "SELECT pg_relation_filepath('fitems_l2')");

# Byte offset of a node page's free-slot count (OmenPageOpaqueData: kind,
# nfree, magic, in the last 8 bytes of the page).
sub nfree_at
{
	my ($l, $node_id) = @_;
	my $blkno = $l->{first_node_block} + int($node_id / $l->{nodes_per_page});
	return $blkno * $BLCKSZ + $BLCKSZ - 6;
}

# Add $delta to a node count of the meta page (README.omendb, "Node
# counters"), as the record that changes the nodes would.
sub add_to_count
{
	my ($b, $field, $delta) = @_;
	my $at = 24 + $META_OFFSET{$field};
	substr($$b, $at, 4) = pack('L', unpack('L', substr($$b, $at, 4)) + $delta);
}

# Turn node $n into a free slot: all zero but for its flags, no edge to it,
# one more free slot on its page and in the meta page's count.
sub make_free_slot
{
	my ($b, $l, $n, $nnodes) = @_;
	my $at = node_at($$b, $l, $n);
	substr($$b, $at, $l->{node_size}) = "\0" x $l->{node_size};
	substr($$b, $at + 6, 1) = chr(0x04);
	for my $m (0 .. $nnodes - 1)
	{
		my $mat = node_at($$b, $l, $m);
		my $k = unpack('S', substr($$b, $mat + 8, 2));
		my @nbrs = grep { $_ != $n } unpack("L$k", substr($$b, $mat + 20, 4 * $k));
		next if @nbrs == $k;
		substr($$b, $mat + 8, 2) = pack('S', scalar @nbrs);
		substr($$b, $mat + 20, 4 * $k) = pack("L$k", @nbrs, (0) x ($k - @nbrs));
	}
	my $nf = nfree_at($l, $n);
	substr($$b, $nf, 2) = pack('S', unpack('S', substr($$b, $nf, 2)) + 1);
	add_to_count($b, 'free_nodes', 1);
}

# The node's row goes first, so that the heap check expects no node for it.
$node->safe_psql($db, 'CHECKPOINT');
my %flayout;
{
	my $bytes = read_file($findex_file);
	$flayout{$_} = meta_field($bytes, $_) for keys %META_OFFSET;
	my $at = node_at($bytes, \%flayout, $free_node);
	my ($bhi, $blo, $off) = unpack('SSS', substr($bytes, $at, 6));
	isnt($flayout{entry_node}, $free_node, "node $free_node is not the entry point");
	is($node->safe_psql($db, "DELETE FROM fitems WHERE ctid = '(@{[ $bhi * 65536 + $blo ]},$off)' RETURNING true"),
		't', "node ${free_node}'s row is deleted");
}
$node->stop;
my $free_image = read_file($findex_file);
make_free_slot(\$free_image, \%flayout, $free_node, 300);
write_file($findex_file, $free_image);
$node->start;
like(
	$node->safe_psql($db,
		"SELECT nodes, live_nodes, deleted_nodes, free_nodes FROM omendb_check('fitems_l2', true)"),
	qr/^300\|299\|0\|1$/,
	'a free slot made by hand passes omendb_check, with the heap check, and is counted');

my $free_item = node_at($free_image, \%flayout, $free_node);
my $code_at = 20 + 4 * $flayout{max_degree};
my @free_scenarios = (
	{
		name => 'a free slot with a neighbour',
		detail => qr/Block \d+, offset \d+ \(node $free_node\): free slot with 1 neighbours, expected a slot all zero but for its flags\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, $free_item + 8, 2) = pack('S', 1);
			substr($$b, $free_item + 20, 4) = pack('L', 3);
		},
	},
	{
		name => 'a free slot with an edge left in a neighbour slot past its count',
		detail => qr/\(node $free_node\): free slot with neighbour slot 2 = 5, expected/,
		damage => sub {
			my ($b) = @_;
			substr($$b, $free_item + 20 + 8, 4) = pack('L', 5);
		},
	},
	{
		name => 'a free slot with a heap TID',
		detail => qr/\(node $free_node\): free slot with heap TID \(0,1\), expected/,
		damage => sub {
			my ($b) = @_;
			substr($$b, $free_item, 6) = pack('SSS', 0, 0, 1);
		},
	},
	{
		name => 'a free slot with a code byte set',
		detail => qr/\(node $free_node\): free slot with code byte 3 = 7, expected/,
		damage => sub {
			my ($b) = @_;
			substr($$b, $free_item + $code_at + 3, 1) = chr(7);
		},
	},
	{
		name => 'a free slot with an error bound',
		detail => qr/\(node $free_node\): free slot with error bound 0\.5 and norm 0, expected/,
		damage => sub {
			my ($b) = @_;
			substr($$b, $free_item + 12, 4) = pack('f', 0.5);
		},
	},
	{
		name => 'a free slot naming a quantizer parameter set',
		detail => qr/\(node $free_node\): quantizer parameter set 1, but the meta page's current set is 0/,
		damage => sub {
			my ($b) = @_;
			substr($$b, $free_item + 7, 1) = chr(1);
		},
	},
	{
		name => 'flags both deleted and free',
		detail => qr/\(node $free_node\): flags 0x06, expected live \(0x01\), deleted \(0x02\) or free \(0x04\)\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, $free_item + 6, 1) = chr(0x06);
		},
	},
	{
		name => 'a page that counts no free slot but has one',
		detail => qr/Block \d+: free-slot count 0 in the special space, but 1 of the page's \d+ nodes are free\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, nfree_at(\%flayout, $free_node), 2) = pack('S', 0);
		},
	},
	{
		name => 'a page that counts two free slots but has one',
		detail => qr/Block \d+: free-slot count 2 in the special space, but 1 of the page's \d+ nodes are free\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, nfree_at(\%flayout, $free_node), 2) = pack('S', 2);
		},
	},
	{
		name => 'an edge of a live node to a free slot',
		detail => qr/\(node 20\): neighbour $free_node is a free slot \(300 nodes are allocated\)\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, node_at($$b, \%flayout, 20) + 20, 4) = pack('L', $free_node);
		},
	},
	{
		# VACUUM frees its deleted nodes a page at a time, and leaves their
		# edges to one another: between its records, or after a crash
		# between them, a deleted node names a free slot.  Without the
		# heap check: node 20's row is still there.
		name => 'a deleted node with an edge to a free slot',
		passes => '1|1',
		damage => sub {
			my ($b) = @_;
			my $at = node_at($$b, \%flayout, 20);
			substr($$b, $at + 6, 1) = chr(0x02);
			substr($$b, $at + 20, 4) = pack('L', $free_node);
			add_to_count($b, 'deleted_nodes', 1);
		},
	},
	{
		name => 'a free slot as the entry point',
		detail => qr/Block 0: entry node $free_node is a free slot\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, 24 + $META_OFFSET{entry_node}, 4) = pack('L', $free_node);
		},
	});

for my $s (@free_scenarios)
{
	my $name = $s->{name};
	my $bytes = $free_image;

	$s->{damage}->(\$bytes);
	$node->stop;
	write_file($findex_file, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;
	if ($s->{passes})
	{
		is($node->safe_psql($db, "SELECT deleted_nodes, free_nodes FROM omendb_check('fitems_l2')"),
			$s->{passes}, "$name: omendb_check passes");
		next;
	}
	my $err = sql_error("SELECT * FROM omendb_check('fitems_l2')");
	note("$name: omendb_check says:\n$err");
	like($err, qr/ERROR:\s+XX002: index "fitems_l2" is corrupted/,
		"$name: omendb_check reports a corrupted index");
	like($err, $s->{detail}, "$name: and says what is wrong");
	unlike(slurp_file($node->logfile, $log_from), qr/terminated by signal|PANIC/,
		"$name: no backend crashed");
}

$node->stop;
write_file($findex_file, $free_image);
$node->start;
$node->safe_psql($db, 'REINDEX INDEX fitems_l2');
like($node->safe_psql($db, "SELECT nodes, live_nodes, free_nodes FROM omendb_check('fitems_l2', true)"),
	qr/^299\|299\|0$/, 'after REINDEX, the index has no free slot and passes the heap check');

# ------------------------------------------------ RaBitQ quantizer pages

# A RaBitQ index's quantizer page (src/omendb_rabitq.c) holds one item: a
# RaBitQPageHeader (seed, uint64 at 0; bits, uint16 at 8; start and n,
# uint32 at 12 and 16; radius, float4 at 20) and then the centroid's
# floats for dimensions start + 1 to start + n, from 24; a page holds up
# to 1,900 of them.  Every node's code is 24 bytes of factors and then
# bits * (dimensions padded to 64) / 8 bytes of bit planes, so the meta
# page's code size fixes the bits.  Set 0 of the quantizer's parameters,
# the one in use, is on the pages from block 1.  Damage to a page of it
# (a centroid value that is NaN, a header whose bits disagree with the
# meta page's code size, a page whose seed or radius differs from the
# first page's) makes omendb_check, a scan and an INSERT fail with
# ERRCODE_INDEX_CORRUPTED naming the block and what it says; no backend
# crashes; REINDEX repairs the index.  rq_l2 (32 dimensions, 2 bits) has
# one page a set; rq_wide_l2 (2,000 dimensions, 1 bit) two.
my $RQ_QUERY_WIDE = "(SELECT array_agg(sin(j * 0.3)::real ORDER BY j) FROM generate_series(1, 2000) j)::vector";
$node->safe_psql(
	$db, qq{
CREATE TABLE rq (id int PRIMARY KEY, v vector(32));
INSERT INTO rq SELECT i, @{[ vec_sql('i') ]} FROM generate_series(1, 400) i;
CREATE INDEX rq_l2 ON rq USING omendb (v) WITH (quantizer = 'rabitq', bits = 2);
CREATE TABLE rq_wide (id int PRIMARY KEY, v vector(2000));
INSERT INTO rq_wide
SELECT i, (SELECT array_agg(sin(i * 0.37 * j + j * j)::real ORDER BY j) FROM generate_series(1, 2000) j)
FROM generate_series(1, 120) i;
CREATE INDEX rq_wide_l2 ON rq_wide USING omendb (v) WITH (quantizer = 'rabitq');
});

my %rq = (
	rq_l2 => {
		table => 'rq', rows => 400, dims => 32, bits => 2, pages => 1,
		query => "'$query_vec'",
		insert => "INSERT INTO rq SELECT i, @{[ vec_sql('i') ]} FROM (SELECT nextval('next_id')::int AS i) s",
	},
	rq_wide_l2 => {
		table => 'rq_wide', rows => 120, dims => 2000, bits => 1, pages => 2,
		query => $RQ_QUERY_WIDE,
		insert => "INSERT INTO rq_wide SELECT nextval('next_id')::int, $RQ_QUERY_WIDE",
	});

sub rq_scan_sql
{
	my ($index) = @_;
	return "SET enable_seqscan = off; SELECT id FROM $rq{$index}{table} ORDER BY v <-> $rq{$index}{query} LIMIT 5";
}

# Byte offset in the file of the item of quantizer page p (from 0) of set 0.
sub rq_item
{
	my ($bytes, $p) = @_;
	return item_at($bytes, 1 + $p, 1);
}

# The healthy files, and their layout as this test reads it.
$node->stop;
$node->start;
for my $index (sort keys %rq)
{
	my $r = $rq{$index};
	is($node->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('$index', true)"),
		"$r->{rows}|$r->{rows}", "$index: the fresh index passes omendb_check, with the heap check");
	$r->{path} = $node->data_dir . '/' . $node->safe_psql($db, "SELECT pg_relation_filepath('$index')");
}
$node->stop;
for my $index (sort keys %rq)
{
	my $r = $rq{$index};
	my $b = read_file($r->{path});
	$r->{healthy} = $b;
	my $pdims = 64 * int(($r->{dims} + 63) / 64);
	is(meta_field($b, 'code_size'), 24 + $r->{bits} * $pdims / 8,
		"$index: the meta page's code size is 24 bytes of factors and $r->{bits} bit planes of $pdims bits");
	is(meta_field($b, 'nquant_blocks'), 2 * $r->{pages},
		"$index: two parameter sets of $r->{pages} quantizer page(s) each");
	for my $p (0 .. $r->{pages} - 1)
	{
		my $at = rq_item($b, $p);
		my $start = 1900 * $p;
		my $n = $r->{dims} - $start < 1900 ? $r->{dims} - $start : 1900;
		my $lp = unpack('L', substr($b, $BLCKSZ * (1 + $p) + 24, 4));
		my ($bits, $hstart, $hn, $radius) = unpack('S x2 L L f', substr($b, $at + 8, 16));
		is(join(',', unpack('S', substr($b, $BLCKSZ * (1 + $p) + 12, 2)), $lp >> 17, $bits, $hstart, $hn),
			join(',', 28, 24 + 4 * $n, $r->{bits}, $start, $n),
			"$index, quantizer page $p: one item of the header and $n floats, saying $r->{bits} bits, dimensions from $start");
		ok($radius > 0, "$index, quantizer page $p: the header's radius is positive");
	}
	is(substr($b, rq_item($b, 0), 8), substr($b, rq_item($b, $r->{pages} - 1), 8),
		"$index: every page of a set has the same seed");
}
$node->start;

my @rq_scenarios = (
	{
		index => 'rq_l2',
		name => 'a centroid value set to NaN',
		detail => qr/Block 1: centroid dimension 5 is NaN\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, rq_item($$b, 0) + 24 + 4 * 4, 4) = pack('L', 0x7FC00000);
		},
	},
	{
		index => 'rq_l2',
		name => "a quantizer page saying 3 bits where the meta page's code size says 2",
		detail => qr/Block 1: quantizer page for dimensions 1 to 32 says dimensions 1 to 32, 3 bits, radius [\d.e+-]+\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, rq_item($$b, 0) + 8, 2) = pack('S', 3);
		},
	},
	{
		index => 'rq_l2',
		name => "a quantizer page saying 1 bit where the meta page's code size says 2",
		detail => qr/Block 1: quantizer page for dimensions 1 to 32 says dimensions 1 to 32, 1 bits, radius [\d.e+-]+\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, rq_item($$b, 0) + 8, 2) = pack('S', 1);
		},
	},
	{
		index => 'rq_wide_l2',
		name => 'a centroid value set to NaN on the second page of a set',
		detail => qr/Block 2: centroid dimension 1950 is NaN\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, rq_item($$b, 1) + 24 + 4 * 49, 4) = pack('L', 0x7FC00000);
		},
	},
	{
		index => 'rq_wide_l2',
		name => "a second quantizer page whose seed differs from the first page's",
		detail => qr/Block 2: quantizer page for dimensions 1901 to 2000 has rotation seed \d+, the set's first page \d+\./,
		damage => sub {
			my ($b) = @_;
			my $at = rq_item($$b, 1);
			substr($$b, $at, 1) = chr(ord(substr($$b, $at, 1)) ^ 1);
		},
	},
	{
		index => 'rq_wide_l2',
		name => "a second quantizer page whose radius differs from the first page's",
		detail => qr/Block 2: quantizer page for dimensions 1901 to 2000 says dimensions 1901 to 2000, 1 bits, radius 1234\.5\./,
		damage => sub {
			my ($b) = @_;
			substr($$b, rq_item($$b, 1) + 20, 4) = pack('f', 1234.5);
		},
	});

for my $s (@rq_scenarios)
{
	my $index = $s->{index};
	my $r = $rq{$index};
	my $name = "$index: $s->{name}";
	my $bytes = $r->{healthy};
	my $path = $node->data_dir . '/' . $node->safe_psql($db, "SELECT pg_relation_filepath('$index')");

	$s->{damage}->(\$bytes);
	$node->stop;
	write_file($path, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;

	my $err = sql_error("SELECT * FROM omendb_check('$index')");
	note("$name: omendb_check says:\n$err");
	like($err, qr/ERROR:\s+XX002: index "$index" is corrupted.*HINT:\s+REINDEX it\./s,
		"$name: omendb_check reports a corrupted index, and says to REINDEX it");
	like($err, $s->{detail}, "$name: omendb_check names the block and what it says");
	$err = sql_error(rq_scan_sql($index));
	note("$name: the scan says:\n$err");
	like($err, qr/ERROR:\s+XX002: index "$index" is corrupted/, "$name: an index scan fails cleanly");
	like($err, $s->{detail}, "$name: the scan's error names the damage too");
	like(sql_error($r->{insert}), qr/ERROR:\s+XX002: /, "$name: an INSERT fails cleanly");
	unlike(slurp_file($node->logfile, $log_from), qr/terminated by signal|PANIC/,
		"$name: no backend crashed");

	$node->safe_psql($db, "REINDEX INDEX $index");
	is($node->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('$index', true)"),
		"$r->{rows}|$r->{rows}", "$name: after REINDEX, omendb_check passes with the heap check");
	my $scan = rq_scan_sql($index);
	is($node->safe_psql($db, $scan), $node->safe_psql($db, "SET enable_indexscan = off; $scan"),
		"$name: after REINDEX, the index scan answers as a sequential scan does");
}

# A set of one page has no other page to compare its seed with: any seed
# makes a well-formed page, so the page checks pass; but the codes no
# longer are what the rows encode to with that seed's rotation, and the
# heap check finds that.
{
	my $name = "rq_l2: the seed of a set's only quantizer page changed";
	my $bytes = $rq{rq_l2}{healthy};
	my $at = rq_item($bytes, 0);
	substr($bytes, $at, 1) = chr(ord(substr($bytes, $at, 1)) ^ 1);
	my $path = $node->data_dir . '/' . $node->safe_psql($db, "SELECT pg_relation_filepath('rq_l2')");
	$node->stop;
	write_file($path, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;
	is($node->safe_psql($db, "SELECT nodes FROM omendb_check('rq_l2')"), '400',
		"$name: the page and graph checks pass");
	my $err = sql_error("SELECT * FROM omendb_check('rq_l2', true)");
	note("$name: omendb_check with heapallindexed says:\n$err");
	like($err, qr/ERROR:\s+XX002: index "rq_l2" is corrupted/,
		"$name: omendb_check with heapallindexed reports a corrupted index");
	like($err, qr/\(node \d+\): .*heap row \(\d+,\d+\)/,
		"$name: and names a node whose code or bound is not its heap row's");
	unlike(slurp_file($node->logfile, $log_from), qr/terminated by signal|PANIC/,
		"$name: no backend crashed");
	$node->safe_psql($db, 'REINDEX INDEX rq_l2');
	is($node->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('rq_l2', true)"),
		'400|400', "$name: after REINDEX, omendb_check passes with the heap check");
}

# ------------------------------------------------------- stored values

# An index with store_vectors keeps each row's vector at the end of its
# node (the last MAXALIGN(8 + 4 * dims) bytes of the item), and a scan
# hands it to the operator's function, which reads as far as the value's
# header says.  A header that says more dimensions than the index has
# (here on every node, so that any scan meets one) makes omendb_check and
# the scan fail with ERRCODE_INDEX_CORRUPTED before any function reads
# past the node; no backend crashes; REINDEX repairs the index.
$node->safe_psql(
	$db, qq{
CREATE TABLE sv (id int PRIMARY KEY, v vector(32));
INSERT INTO sv SELECT i, @{[ vec_sql('i') ]} FROM generate_series(1, 300) i;
CREATE INDEX sv_l2 ON sv USING omendb (v) WITH (store_vectors = on);
});
{
	my $name = 'sv_l2: every stored value says 64 dimensions';
	my $sv_scan = "SET enable_seqscan = off; SELECT id FROM sv ORDER BY v <-> '$query_vec' LIMIT 5";
	is($node->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('sv_l2', true)"),
		'300|300', 'sv_l2: the fresh index passes omendb_check, comparing every stored value with its row');
	my $path = $node->data_dir . '/' . $node->safe_psql($db, "SELECT pg_relation_filepath('sv_l2')");
	$node->stop;
	my $bytes = read_file($path);
	my %layout;
	$layout{$_} = meta_field($bytes, $_) for keys %META_OFFSET;
	my $value_size = 8 + 4 * 32;
	my $damaged = 0;
	for (my $blkno = $layout{first_node_block}; $blkno * $BLCKSZ < length($bytes); $blkno++)
	{
		my $nitems = (unpack('S', substr($bytes, $blkno * $BLCKSZ + 12, 2)) - 24) / 4;
		for my $off (1 .. $nitems)
		{
			my $value = item_at($bytes, $blkno, $off) + $layout{node_size} - $value_size;
			substr($bytes, $value + 4, 2) = pack('S', 64);
			$damaged++;
		}
	}
	is($damaged, 300, "$name: one value a node, at the end of the node");
	write_file($path, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;
	my $err = sql_error("SELECT * FROM omendb_check('sv_l2')");
	note("$name: omendb_check says:\n$err");
	like($err, qr/ERROR:\s+XX002: index "sv_l2" is corrupted.*stored value with header .* and 64 dimensions, expected a value of $value_size bytes and 32 dimensions.*HINT:\s+REINDEX it\./s,
		"$name: omendb_check reports a corrupted index, names the value's header, and says to REINDEX it");
	$err = sql_error($sv_scan);
	note("$name: the scan says:\n$err");
	like($err, qr/ERROR:\s+XX002: index "sv_l2" is corrupted.*stored value with header/s,
		"$name: an index scan fails cleanly before it computes a distance");
	unlike(slurp_file($node->logfile, $log_from), qr/terminated by signal|PANIC/,
		"$name: no backend crashed");
	$node->safe_psql($db, 'REINDEX INDEX sv_l2');
	is($node->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('sv_l2', true)"),
		'300|300', "$name: after REINDEX, omendb_check passes with the heap check");
	is($node->safe_psql($db, $sv_scan), $node->safe_psql($db, "SET enable_indexscan = off; $sv_scan"),
		"$name: after REINDEX, the index scan answers as a sequential scan does");
}

# A distance sketch that is not its row's.  An index with a filter column
# keeps each row's sketch in its label directory entry (README.omendb,
# "Distance sketches"); a sketch changed on its page leaves every page
# well-formed, so omendb_check without the heap check passes, and the
# heap check, which computes each row's sketch from its vector, reports
# the node, its label page and the row.  REINDEX repairs it.
$node->safe_psql(
	$db, qq{
CREATE TABLE sk (id int PRIMARY KEY, v vector(32), tenant int);
INSERT INTO sk SELECT i, @{[ vec_sql('i') ]}, i % 10 FROM generate_series(1, 600) i;
CREATE INDEX sk_l2 ON sk USING omendb (v, tenant);
});
{
	my $name = 'sk_l2: a cell of the first slot\'s sketch changed';
	is($node->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('sk_l2', true)"),
		'600|600', 'sk_l2: the fresh index passes omendb_check, comparing every sketch with its row');
	my $path = $node->data_dir . '/' . $node->safe_psql($db, "SELECT pg_relation_filepath('sk_l2')");
	$node->stop;
	my $bytes = read_file($path);
	my %layout;
	$layout{$_} = meta_field($bytes, $_) for keys %META_OFFSET;
	is($layout{sketch_words}, 2, "$name: the index carries two words of sketch an entry");
	# the first group's label page: the arrays of its entries' words, the
	# labels' first, then the sketch's; slot 0 is entry 0
	my $nentries = ($layout{label_stride} - 1) * $layout{nodes_per_page};
	my $at = $layout{first_node_block} * $BLCKSZ + 24 + $layout{label_size} * $nentries;
	substr($bytes, $at, 1) = chr(ord(substr($bytes, $at, 1)) ^ 0x80);
	write_file($path, $bytes);
	my $log_from = -s $node->logfile;
	$node->start;
	is($node->safe_psql($db, "SELECT nodes FROM omendb_check('sk_l2')"), '600',
		"$name: the pages are well-formed: omendb_check without the heap check passes");
	my $err = sql_error("SELECT * FROM omendb_check('sk_l2', true)");
	note("$name: omendb_check says:\n$err");
	like($err, qr/ERROR:\s+XX002: index "sk_l2" is corrupted.*its sketch on label page $layout{first_node_block} does not match heap row.*HINT:\s+REINDEX it\./s,
		"$name: the heap check reports the node's sketch, its label page and the row");
	unlike(slurp_file($node->logfile, $log_from), qr/terminated by signal|PANIC/,
		"$name: no backend crashed");
	$node->safe_psql($db, 'REINDEX INDEX sk_l2');
	is($node->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('sk_l2', true)"),
		'600|600', "$name: after REINDEX, omendb_check passes with the heap check");
}

$node->stop;
done_testing();
