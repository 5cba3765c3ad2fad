# TAP: every kernel set gives the same answers.
#
# The float distance kernels (the vector operators) and the SQ8 kernels
# (index build and scan) exist as portable C, AVX2 and AVX-512 variants,
# and a server uses the best its CPU supports.  OMENDB_KERNELS in the
# server's environment caps that ("portable", "avx2"), so that one machine
# runs what older CPUs would; "portable" also runs the portable integer
# scan kernel, which no CPU chooses on its own.  For each set this CPU can
# run:
#
# - <->, <#>, <=>, l1_distance and vector_norm agree with a float8
#   reference computed in SQL, within float rounding, for every dimension
#   from 1 to 100 (every tail length of every vector width);
# - an index built under the set (L2, inner product, cosine, L1) passes
#   omendb_check with heapallindexed, returns the exact top 10 of every
#   query with a search list covering the table, and at the default list
#   finds at least 95% of it;
# - the indexes built under the best set answer the same under this one;
# - so do RaBitQ indexes (L2, inner product, cosine), whose code-to-code
#   popcounts have a portable and a POPCNT variant;
# - omendb_kernels() names the kernels the server runs, so that a set
#   that did not take effect fails the test.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $db = 'postgres';
my $node = omen_node('kernels');

# The sets this CPU can run, lowest first.
my $flags = '';
if (open(my $fh, '<', '/proc/cpuinfo'))
{
	local $/;
	$flags = <$fh>;
	close($fh);
}
my @sets = ('portable');
my $avx2 = $flags =~ /\bavx2\b/ && $flags =~ /\bfma\b/;
push @sets, 'avx2' if $avx2;
push @sets, 'best';
note "kernel sets: @sets";

# What omendb_kernels() must report under each set: the float kernels'
# level, the SQ8 code-to-code kernel's and the scan's integer kernel.
my %kernels = (
	portable => 'float=portable sq8=portable scan=portable',
	avx2 => 'float=avx2 sq8=avx2 scan=none');
if ($avx2 && $flags =~ /\bavx512f\b/)
{
	$kernels{best} =
	  ($flags =~ /\bavx512bw\b/ && $flags =~ /\bavx512vl\b/)
	  ? 'float=avx512 sq8=avx512 scan=avx512'
	  : 'float=avx512 sq8=avx2 scan=none';
}
elsif ($avx2) { $kernels{best} = $kernels{avx2}; }
else { $kernels{best} = 'float=portable sq8=portable scan=none'; }

# Row i, element j of a 67-dimensional vector (odd, so every kernel has a
# tail); queries are rows of another formula.
sub vec_sql
{
	my ($i, $dim) = @_;
	return "(SELECT array_agg((sin($i * 0.37 * j + j) * 3 + cos($i * 0.011 * j) "
	  . "+ ((abs(sin($i * 12.9898 + j * 78.233)) * 43758.5453)::numeric % 1 - 0.5))::real)::vector "
	  . "FROM generate_series(1, $dim) j)";
}

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE pairs (dim int, a vector, b vector);
INSERT INTO pairs
SELECT d, @{[ vec_sql('(d * 3 + k)', 'd') ]}, @{[ vec_sql('(d * 5 + k + 1000)', 'd') ]}
FROM generate_series(1, 100) d, generate_series(1, 3) k;
CREATE TABLE items (id int PRIMARY KEY, v vector(67));
INSERT INTO items SELECT i, @{[ vec_sql('i', 67) ]} FROM generate_series(1, 3000) i;
CREATE TABLE queries (qid int PRIMARY KEY, v vector(67));
INSERT INTO queries SELECT q, @{[ vec_sql('(q + 0.5) * 131', 67) ]} FROM generate_series(1, 20) q;
});

# Rows of pairs where an operator and its float8 reference differ by more
# than float rounding allows (relative 1e-5 of the magnitudes involved).
my $reference_mismatches = q{
WITH e AS (
	SELECT p.dim, p.a, p.b, x.x::float8 AS x, y.y::float8 AS y
	FROM pairs p,
		 unnest(p.a::real[]) WITH ORDINALITY x(x, n)
		 JOIN unnest(p.b::real[]) WITH ORDINALITY y(y, m) ON n = m),
r AS (
	SELECT dim, a, b,
		   sqrt(sum((x - y) ^ 2)) AS l2, sum(x * y) AS dot, sum(abs(x - y)) AS l1,
		   sqrt(sum(x * x)) AS na, sqrt(sum(y * y)) AS nb,
		   sum(abs(x * y)) AS absdot, sum(abs(x) + abs(y)) AS mag
	FROM e GROUP BY dim, a, b)
SELECT count(*) FROM r
WHERE abs((a <-> b) - l2) > 1e-5 * (l2 + mag / dim + 1e-6)
   OR abs((a <#> b) + dot) > 1e-5 * (absdot + 1e-6)
   OR abs(l1_distance(a, b) - l1) > 1e-5 * (mag + 1e-6)
   OR abs(vector_norm(a) - na) > 1e-5 * (na + 1e-6)
   OR abs((a <=> b) - (1 - dot / (na * nb))) > 1e-5 * (absdot / (na * nb) + 1e-6)};

# For each operator: queries whose top 10 through $table's index, at a
# search list covering the table and with certain bounds, differ from the
# exact answer; and whether the index finds at least 95% of it at the
# default list and default bounds.
sub index_answers
{
	my ($table, $label, @ops) = @_;
	@ops = ('<->', '<#>', '<=>', '<+>') unless @ops;
	foreach my $op (@ops)
	{
		my $top10 = "SELECT q.qid, ARRAY(SELECT id FROM $table t ORDER BY t.v $op q.v LIMIT 10) AS ids FROM queries q";
		my $out = $node->safe_psql(
			$db, qq{
SET enable_indexscan = off;
CREATE TEMP TABLE want AS $top10;
RESET enable_indexscan;
SET enable_seqscan = off;
SET omendb.search_list_size = 4000;
SET omendb.exact_order = on;
CREATE TEMP TABLE full_list AS $top10;
RESET omendb.exact_order;
RESET omendb.search_list_size;
CREATE TEMP TABLE default_list AS $top10;
SELECT (SELECT count(*) FROM want w JOIN full_list f USING (qid) WHERE w.ids <> f.ids),
	   (SELECT avg((SELECT count(*) FROM unnest(d.ids) x WHERE x = ANY (w.ids))) / 10
		FROM want w JOIN default_list d USING (qid)) >= 0.95;
});
		is($out, '0|t',
			"$label: $op gives the exact top 10 with a full list, >= 0.95 of it at the default"
		);
	}
}

my $indexes = q{
CREATE INDEX ON %1$s USING omendb (v vector_l2_ops);
CREATE INDEX ON %1$s USING omendb (v vector_ip_ops);
CREATE INDEX ON %1$s USING omendb (v vector_cosine_ops);
CREATE INDEX ON %1$s USING omendb (v vector_l1_ops);
};

# RaBitQ codes are compared code to code by popcounts, whose kernel has a
# portable and a POPCNT variant; it takes no L1 class.
my @rabitq_ops = ('<->', '<#>', '<=>');
my $rabitq_indexes = q{
CREATE INDEX ON %1$s USING omendb (v vector_l2_ops) WITH (quantizer = 'rabitq', bits = 2);
CREATE INDEX ON %1$s USING omendb (v vector_ip_ops) WITH (quantizer = 'rabitq', bits = 4);
CREATE INDEX ON %1$s USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq');
};

# Rows within a thousandth of 0 under ranges of -127 to 128 (which make 0
# a code's value): their nodes' errors and the vectors are tiny against
# the offsets from lower the kernels work with, so the bounds' slack for
# the kernels' own rounding decides whether the order is exact.  Each of
# the rows is a query; the index, built by the best set and searched
# exhaustively (so that no row comes late), must return every row in the
# exact order of a sort.
$node->safe_psql(
	$db, q{
CREATE TABLE near_zero (id int, v vector(6));
INSERT INTO near_zero VALUES (-1, '[-127,-127,-127,-127,-127,-127]'), (-2, '[128,128,128,128,128,128]');
INSERT INTO near_zero
	SELECT i, ARRAY(SELECT (sin(i * 4.1414 + j * 17.17) * 0.001)::real FROM generate_series(1, 6) j)
	FROM generate_series(1, 300) i;
CREATE FUNCTION near_zero_in_order(op text, q vector) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	query text := format('SELECT v %s %L::vector AS d FROM near_zero ORDER BY v %s %L::vector', op, q, op, q);
	got float8[];
	want float8[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	PERFORM set_config('omendb.search_list_size', '10000', true);
	EXECUTE format('SELECT array_agg(d ORDER BY n) FROM (SELECT s.*, row_number() OVER () AS n FROM (%s) s) r', query)
		INTO got;
	PERFORM set_config('enable_seqscan', 'on', true);
	PERFORM set_config('enable_indexscan', 'off', true);
	EXECUTE format('SELECT array_agg(d ORDER BY d) FROM (%s) s', query) INTO want;
	PERFORM set_config('enable_indexscan', 'on', true);
	RETURN got = want;
END
$$;
} . sprintf($indexes, 'near_zero'));

# items_best keeps the indexes the best set built; items is indexed anew
# under each set.
$node->safe_psql($db,
	"CREATE TABLE items_best AS TABLE items;" . sprintf($indexes, 'items_best'));
$node->safe_psql($db,
	"CREATE TABLE items_rq_best AS TABLE items;" . sprintf($rabitq_indexes, 'items_rq_best'));

foreach my $set (reverse @sets)
{
	if ($set eq 'best') { delete $ENV{OMENDB_KERNELS}; }
	else { $ENV{OMENDB_KERNELS} = $set; }
	$node->restart;

	is($node->safe_psql($db, 'SELECT omendb_kernels()'),
		$kernels{$set}, "$set kernels: the server runs them");
	is($node->safe_psql($db, $reference_mismatches),
		'0', "$set kernels: vector operators agree with the float8 reference");

	index_answers('items_best', "$set kernels, indexes built by the best set");

	$node->safe_psql($db, sprintf($indexes, 'items'));
	my @own = split /\n/, $node->safe_psql($db,
		"SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'items'::regclass "
		  . "AND indexrelid <> 'items_pkey'::regclass ORDER BY 1");
	my $rows = $node->safe_psql($db, 'SELECT count(*) FROM items');
	omendb_check_ok($node, $db, $_,
		"$set kernels: omendb_check of $_ built by them: every row, reachable, unclamped",
		heapallindexed => 1,
		live_nodes => $rows,
		reachable => 1,
		clamped_nodes => 0)
	  foreach @own;
	index_answers('items', "$set kernels, indexes built by them");
	my ($ret, $out, $err) = $node->psql($db,
		"SELECT count(*) FILTER (WHERE NOT near_zero_in_order(op, v)) FROM near_zero, "
		  . "unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op WHERE id > 0");
	is("$ret|$out", '0|0',
		"$set kernels: rows near 0 under wide ranges come back in exact order by every operator"
	) or diag($err);
	$node->safe_psql($db, "DROP INDEX " . join(', ', @own));

	index_answers('items_rq_best', "$set kernels, rabitq indexes built by the best set",
		@rabitq_ops);
	$node->safe_psql($db, "CREATE TABLE items_rq AS TABLE items;" . sprintf($rabitq_indexes, 'items_rq'));
	omendb_check_ok($node, $db, $_,
		"$set kernels: omendb_check of rabitq index $_ built by them: every row, reachable",
		heapallindexed => 1,
		live_nodes => $rows,
		reachable => 1)
	  foreach split /\n/, $node->safe_psql($db,
		"SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'items_rq'::regclass ORDER BY 1");
	index_answers('items_rq', "$set kernels, rabitq indexes built by them", @rabitq_ops);
	$node->safe_psql($db, "DROP TABLE items_rq");
}

$node->stop;
done_testing();
