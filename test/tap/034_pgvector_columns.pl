# TAP: omendb indexes pgvector's own columns in place (the companion
# extension omendb_pgvector).
#
# pgvector ("vector") in public, omendb in a schema of its own, the
# companion in public, as README.md describes.  Then:
#
#   - omendb indexes a pgvector table's vector and halfvec columns for L2,
#     cosine, inner product and L1, built over the rows and taking
#     inserts; queried with pgvector's own operators, EXPLAIN shows the
#     omendb index, and its top 10 (at an exhaustive search list) are the
#     sequential scan's, distance for distance;
#   - support function 2 reads pgvector's values as omendb's vector: the
#     same text, and halfvec's halves widened exactly;
#   - rows and queries at magnitudes where pgvector's float sums overflow
#     or lose every significant bit (cosine and inner product; L1, whose
#     float sum overflows to Infinity where omendb's own redoes it in
#     double): every ordered scan runs without "index returned tuples in
#     wrong order" and returns every row in the sequential scan's order;
#   - omendb_check with the heap check passes on every index, and
#     omendb_recall measures them;
#   - the companion refuses omendb's own schema;
#   - pg_dump -Fc | pg_restore into a fresh database: the same index
#     definitions, answering the same;
#   - ALTER EXTENSION ... UPDATE of all three, and moving omendb to
#     another schema, leave the indexes answering the same;
#   - DROP EXTENSION vector CASCADE takes the companion, pgvector's
#     columns and their indexes, and leaves omendb working.
#
# test/run builds and installs pgvector (test/pgvector-install); without
# it this test fails, but for one case, which it skips: the install
# recorded (in OMENDB_PGVECTOR_UNBUILDABLE) that the pgvector Debian serves
# does not compile against this server's major version.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('pgvector');
my $dir = PostgreSQL::Test::Utils::tempdir();

my $have = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_available_extensions WHERE name IN ('vector', 'omendb_pgvector')");
if ($have != 2)
{
	my $unbuildable = $ENV{OMENDB_PGVECTOR_UNBUILDABLE} // '';
	my $major = int($node->safe_psql('postgres', 'SHOW server_version_num') / 10000);
	if (-s $unbuildable)
	{
		my ($version, $for) = split ' ', slurp_file($unbuildable);
		plan skip_all => "pgvector $version from Debian does not build against PostgreSQL $major"
		  if defined $for && $for eq $major;
	}
	fail('pgvector and omendb_pgvector are installed (test/run installs pgvector with test/pgvector-install)');
	done_testing();
	exit;
}

# 16-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i) = @_;
	return "(SELECT array_agg(sin($i * 0.29 * j + j) + cos($i * 0.017 * j))::real[]::vector(16) FROM generate_series(1, 16) j)";
}

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', qq{
ALTER DATABASE src SET search_path = "\$user", public, omendb;
CREATE EXTENSION vector;
CREATE SCHEMA omendb;
CREATE EXTENSION omendb SCHEMA omendb;
CREATE EXTENSION omendb_pgvector;
CREATE TABLE items (id int PRIMARY KEY, embedding vector(16), h halfvec(16));
INSERT INTO items SELECT i, v, v::halfvec(16) FROM (SELECT i, @{[ vec_sql('i') ]} v FROM generate_series(1, 2500) i) s;
CREATE INDEX items_l2 ON items USING omendb (embedding);
-- (two keep the rows' values, pgvector's own, and rank by pgvector's functions)
CREATE INDEX items_cos ON items USING omendb (embedding vector_cosine_ops) WITH (store_vectors = on);
CREATE INDEX items_ip ON items USING omendb (embedding vector_ip_ops);
CREATE INDEX items_l1 ON items USING omendb (embedding vector_l1_ops);
CREATE INDEX items_h_l2 ON items USING omendb (h) WITH (store_vectors = on);
CREATE INDEX items_h_cos ON items USING omendb (h halfvec_cosine_ops);
CREATE INDEX items_h_ip ON items USING omendb (h halfvec_ip_ops);
CREATE INDEX items_h_l1 ON items USING omendb (h halfvec_l1_ops);
INSERT INTO items SELECT i, v, v::halfvec(16) FROM (SELECT i, @{[ vec_sql('i') ]} v FROM generate_series(2501, 3000) i) s;
CREATE TABLE queries (qid int PRIMARY KEY, v vector(16));
INSERT INTO queries SELECT q, @{[ vec_sql('(q + 0.5)') ]} FROM generate_series(1, 20) q;
});

is( $node->safe_psql(
		'src', q{
SELECT string_agg(c.relname || ' ' || o.opcname || ' ' || o.opcnamespace::regnamespace || ' ' || t.typname || ' ' || t.typnamespace::regnamespace, ', ' ORDER BY c.relname)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_opclass o ON o.oid = i.indclass[0]
JOIN pg_type t ON t.oid = o.opcintype WHERE c.relname LIKE 'items\_%' AND c.relname <> 'items_pkey'}),
	'items_cos vector_cosine_ops public vector public, items_h_cos halfvec_cosine_ops public halfvec public, '
	  . 'items_h_ip halfvec_ip_ops public halfvec public, items_h_l1 halfvec_l1_ops public halfvec public, '
	  . 'items_h_l2 halfvec_l2_ops public halfvec public, items_ip vector_ip_ops public vector public, '
	  . 'items_l1 vector_l1_ops public vector public, items_l2 vector_l2_ops public vector public',
	"the indexes use omendb_pgvector's classes, for pgvector's types");

is( $node->safe_psql(
		'src', q{
SELECT count(*) FILTER (WHERE omendb_pgvector_vector(embedding, -1, false)::text <> embedding::text),
	   count(*) FILTER (WHERE omendb_pgvector_halfvec(h, -1, false)::text <> h::vector::text)
FROM items}),
	'0|0',
	'support function 2 reads vector as it is and widens halfvec exactly, row for row');

# The exact top 10 of each query, as distances (ties in any order), by the
# index or by a sequential scan.  (<+> is pgvector's l1_distance.)
my @cases = (
	[ 'items_l2', 'embedding', '<->', 'q.v' ],
	[ 'items_cos', 'embedding', '<=>', 'q.v' ],
	[ 'items_ip', 'embedding', '<#>', 'q.v' ],
	[ 'items_h_l2', 'h', '<->', 'q.v::halfvec(16)' ],
	[ 'items_h_cos', 'h', '<=>', 'q.v::halfvec(16)' ],
	[ 'items_h_ip', 'h', '<#>', 'q.v::halfvec(16)' ],
	[ 'items_l1', 'embedding', '<+>', 'q.v' ],
	[ 'items_h_l1', 'h', '<+>', 'q.v::halfvec(16)' ]);

my @index_mode = ('SET enable_seqscan = off', 'SET enable_bitmapscan = off',
	'SET omendb.search_list_size = 10000');
my @seq_mode = ('SET enable_indexscan = off', 'SET enable_bitmapscan = off');

sub topk_sql
{
	my ($col, $op, $q) = @_;
	return qq{
SELECT string_agg(d, ' | ' ORDER BY qid) FROM (
	SELECT q.qid, (SELECT string_agg(dist::text, ' ')
				   FROM (SELECT $col $op $q AS dist FROM items ORDER BY $col $op $q LIMIT 10) t) d
	FROM queries q) s};
}

sub topk
{
	my ($db, $case, @settings) = @_;
	my (undef, $col, $op, $q) = @$case;
	my $pre = join('', map { "$_;\n" } @settings);
	return $node->safe_psql($db, $pre . topk_sql($col, $op, $q));
}

my %truth;
for my $case (@cases)
{
	my ($index, $col, $op, $q) = @$case;
	my $plan = plan_of($node, 'src', topk_sql($col, $op, $q), @index_mode);
	like($plan, qr/Index Scan using $index on items/, "$index: EXPLAIN of $col $op query uses it");
	$truth{$index} = topk('src', $case, @seq_mode);
	is(topk('src', $case, @index_mode), $truth{$index},
		"$index: exact top 10 of 20 queries by pgvector's $op equal a sequential scan");
}

for my $case (@cases)
{
	omendb_check_ok($node, 'src', $case->[0], "$case->[0]: omendb_check with heapallindexed",
		heapallindexed => 1, live_nodes => 3000);
}

# omendb_recall measures them too: its queries reach pgvector's operator
# as pgvector's type, and inner product's automatic list is 160.
is( $node->safe_psql(
		'src', q{
SELECT string_agg(format('%s %s %s', i, r.queries, r.search_list_size), ', ' ORDER BY i)
FROM unnest(ARRAY['items_cos', 'items_h_ip']) i, omendb_recall(i::regclass, 20) r
WHERE r.recall > 0.9}),
	'items_cos 20 40, items_h_ip 20 160',
	'omendb_recall measures indexes over pgvector columns');

# ------------------------------------------------ magnitudes beyond float sums

# Rows at scales from 1e-37 to 1e20: pgvector's cosine of a vector shorter
# than about 1e-19 or longer than about 1e19, and its inner product of two
# vectors whose norms multiply past the float range, are what its float
# sums give; the index's bounds must stay below them.  The indexes are
# built empty, so the rows go in through inserts.
$node->safe_psql(
	'src', q{
CREATE TABLE extremes (id int, v vector(8));
CREATE INDEX extremes_l2 ON extremes USING omendb (v vector_l2_ops);
CREATE INDEX extremes_cos ON extremes USING omendb (v vector_cosine_ops);
CREATE INDEX extremes_ip ON extremes USING omendb (v vector_ip_ops) WITH (store_vectors = on);
INSERT INTO extremes
SELECT i * 10 + k, (SELECT array_agg((s * sin(i * 1.3 + j * j * 0.7) * (1 + (i % 5)))::real) FROM generate_series(1, 8) j)::vector(8)
FROM generate_series(1, 150) i,
	 (VALUES (1, 1e-37::float8), (2, 1e-23), (3, 1e-21), (4, 1e-19), (5, 1), (6, 1e18), (7, 1e19), (8, 1e20)) sc(k, s);
CREATE TABLE extreme_queries (qid int, v vector(8));
INSERT INTO extreme_queries VALUES
	(1, '[1e-22,0,0,0,0,0,0,1e-23]'), (2, '[1,2,3,4,5,6,7,8]'), (3, '[1e20,0,0,0,0,0,0,1e19]'),
	(4, '[-3e19,1e19,0,0,0,0,0,2e19]'), (5, '[1e-38,-2e-38,0,0,0,0,0,3e-38]');
});

# L1's float sum overflows to Infinity once the differences add up past
# the largest float, where omendb's own l1_distance redoes it in double.
# A table of its own holds the rows above and rows up to 1.5e38, at
# Infinity from every query (some of them by a single difference), and
# queries near the float maximum join the ones above, at Infinity from
# some rows and finite from the rest.
$node->safe_psql(
	'src', q{
CREATE TABLE extremes_wide (id int, v vector(8));
CREATE INDEX extremes_l1 ON extremes_wide USING omendb (v vector_l1_ops);
INSERT INTO extremes_wide SELECT * FROM extremes;
INSERT INTO extremes_wide
SELECT 10000 + i, (SELECT array_agg((3e37 * sin(i * 1.3 + j * j * 0.7) * (1 + (i % 5)))::real) FROM generate_series(1, 8) j)::vector(8)
FROM generate_series(1, 150) i;
CREATE TABLE extreme_wide_queries (qid int, v vector(8));
INSERT INTO extreme_wide_queries SELECT * FROM extreme_queries;
INSERT INTO extreme_wide_queries VALUES
	(6, '[1e38,-1e38,0,0,0,0,0,5e37]'), (7, '[3e38,0,0,0,0,0,0,0]'), (8, '[1e37,1e-38,0,0,0,0,0,-1e37]');
});

# operator, index, table, queries, rows
for my $case (
	[ '<->', 'extremes_l2', 'extremes', 'extreme_queries', 1200 ],
	[ '<=>', 'extremes_cos', 'extremes', 'extreme_queries', 1200 ],
	[ '<#>', 'extremes_ip', 'extremes', 'extreme_queries', 1200 ],
	[ '<+>', 'extremes_l1', 'extremes_wide', 'extreme_wide_queries', 1350 ])
{
	my ($op, $index, $table, $queries, $rows) = @$case;
	my $sql = qq{
SELECT string_agg(d, ' | ' ORDER BY qid) FROM (
	SELECT q.qid, (SELECT string_agg(dist::text, ' ')
				   FROM (SELECT v $op q.v AS dist FROM $table ORDER BY v $op q.v) t) d
	FROM $queries q) s};
	like(plan_of($node, 'src', $sql, @index_mode), qr/Index Scan using $index/,
		"$index: EXPLAIN of full ordered scans uses it");
	my $seq = $node->safe_psql('src', join('', map { "$_;\n" } @seq_mode) . $sql);
	# at the default search list (the graph search, then the sweep) ...
	my ($ret, $out, $err) = $node->psql('src', join('', map { "$_;\n" } @index_mode[0, 1]) . $sql);
	is($ret, 0, "$index: full ordered scans by pgvector's $op at every magnitude run without error")
	  or diag($err);
	# ... and at an exhaustive one, where every row comes out in exact order
	is($node->safe_psql('src', join('', map { "$_;\n" } @index_mode) . $sql), $seq,
		"$index: and at an exhaustive search list return every row in the sequential scan's order");
	omendb_check_ok($node, 'src', $index, "$index: omendb_check with heapallindexed",
		heapallindexed => 1, live_nodes => $rows);
}

# ------------------------------------------------ omendb's schema is refused

$node->safe_psql('postgres', 'CREATE DATABASE sameschema');
my ($ret, $out, $err) = $node->psql(
	'sameschema', q{
CREATE EXTENSION vector;
CREATE SCHEMA omendb;
CREATE EXTENSION omendb SCHEMA omendb;
CREATE EXTENSION omendb_pgvector SCHEMA omendb;});
like($err, qr/omendb_pgvector cannot be installed in schema omendb, which holds omendb/,
	"omendb_pgvector refuses omendb's own schema, whose classes have the same names");

# ------------------------------------------------ pg_dump and pg_restore

my $indexdefs_sql = q{
SELECT string_agg(indexname || ': ' || indexdef, E'\n' ORDER BY indexname) FROM pg_indexes
WHERE schemaname = 'public'};
my $defs = $node->safe_psql('src', $indexdefs_sql);

$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/src.dump", '-d', $node->connstr('src') ],
	'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), "$dir/src.dump" ],
	'pg_restore into a new database');
is($node->safe_psql('dst', $indexdefs_sql), $defs, 'restored: the same index definitions');
is( $node->safe_psql('dst',
		"SELECT string_agg(extname || ' ' || extnamespace::regnamespace, ', ' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'"),
	'omendb omendb, omendb_pgvector public, vector public',
	'restored: each extension in its schema');
for my $case (@cases)
{
	is(topk('dst', $case, @index_mode), $truth{ $case->[0] },
		"restored $case->[0]: the same exact top 10");
}

# ------------------------------------------------ updates and relocation

$node->safe_psql(
	'src', q{
ALTER EXTENSION vector UPDATE;
ALTER EXTENSION omendb UPDATE;
ALTER EXTENSION omendb_pgvector UPDATE;});
for my $case (@cases[ 1, 5, 6 ])
{
	is(topk('src', $case, @index_mode), $truth{ $case->[0] },
		"after ALTER EXTENSION ... UPDATE of all three, $case->[0]: the same exact top 10");
}

$node->safe_psql('src',
	'CREATE SCHEMA omendb_moved; ALTER EXTENSION omendb SET SCHEMA omendb_moved');
for my $case (@cases[ 0, 2, 4, 7 ])
{
	is(topk('src', $case, @index_mode), $truth{ $case->[0] },
		"after moving omendb to another schema, $case->[0]: the same exact top 10");
}

# ------------------------------------------------ dropping pgvector

$node->safe_psql(
	'dst', q{
CREATE TABLE own (id int, v omendb.vector(3));
INSERT INTO own SELECT i, ARRAY[i, i % 7, i % 3]::real[]::omendb.vector(3) FROM generate_series(1, 200) i;
CREATE INDEX own_l2 ON own USING omendb (v omendb.vector_l2_ops);
DROP EXTENSION vector CASCADE;});
is( $node->safe_psql(
		'dst', q{
SELECT (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension),
	   (SELECT count(*) FROM pg_opclass WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'omendb') AND opcnamespace = 'public'::regnamespace),
	   (SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped),
	   (SELECT count(*) FROM pg_class WHERE relname LIKE 'items\_%' AND relname <> 'items_pkey')}),
	'omendb,plpgsql|0|id|0',
	'DROP EXTENSION vector CASCADE takes omendb_pgvector, its classes, the pgvector columns and their indexes');
my $own_sql = q{
SELECT string_agg(d::text, ' ') FROM (SELECT v OPERATOR(omendb.<->) '[10,3,1]'::omendb.vector AS d
	FROM own ORDER BY v OPERATOR(omendb.<->) '[10,3,1]'::omendb.vector LIMIT 5) s};
like(plan_of($node, 'dst', $own_sql, @index_mode), qr/Index Scan using own_l2/,
	"omendb's own index is still used");
is( $node->safe_psql('dst', join('', map { "$_;\n" } @index_mode) . $own_sql),
	$node->safe_psql('dst', join('', map { "$_;\n" } @seq_mode) . $own_sql),
	"and still answers as a sequential scan does");

done_testing();
