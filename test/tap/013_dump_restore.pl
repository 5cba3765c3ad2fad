# TAP: omendb indexes through pg_dump -Fc and pg_restore.
#
# The restored database has the same indexes, with the same definitions
# (operator classes, non-default options, partial and expression indexes),
# and they return the same nearest neighbours as the originals.  Also with
# the extension installed in a schema of its own, off the search_path.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('dump');
my $dir = PostgreSQL::Test::Utils::tempdir();

# 16-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i, $type) = @_;
	return "(SELECT array_agg(sin($i * 0.29 * j + j) + cos($i * 0.017 * j))::real[]::$type FROM generate_series(1, 16) j)";
}

# Index definitions of a database, one line each, sorted.
my $indexdefs_sql = q{
SELECT indexname || ': ' || indexdef FROM pg_indexes
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY indexname;
};

sub dump_restore
{
	my ($src, $dst, $what) = @_;
	my $file = "$dir/$src.dump";
	$node->command_ok([ 'pg_dump', '-Fc', '-f', $file, '-d', $node->connstr($src) ],
		"$what: pg_dump -Fc");
	$node->safe_psql('postgres', "CREATE DATABASE $dst");
	$node->command_ok(
		[ 'pg_restore', '--exit-on-error', '-d', $node->connstr($dst), $file ],
		"$what: pg_restore into a new database");
}

# ------------------------------------------- extension in the default schema

my $vec_i = vec_sql('i', 'vector');
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16), category int);
INSERT INTO items SELECT i, $vec_i, i % 10 FROM generate_series(1, 1500) i;
INSERT INTO items VALUES (1501, NULL, 0);
CREATE INDEX items_l2 ON items USING omendb (v) WITH (graph_degree = 12, build_list_size = 40, alpha = 1.4);
CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops) WITH (quantizer = 'sq8', graph_degree = 24);
CREATE INDEX items_ip ON items USING omendb (v vector_ip_ops);
CREATE INDEX items_cat3 ON items USING omendb (v) WITH (graph_degree = 8, build_list_size = 16) WHERE category = 3;
CREATE INDEX items_half ON items USING omendb (((v * '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]'::vector(16))::vector(16)));
CREATE TABLE queries (qid int PRIMARY KEY, v vector(16));
INSERT INTO queries SELECT q, @{[ vec_sql('(q + 0.5)', 'vector') ]} FROM generate_series(1, 30) q;
});

dump_restore('src', 'dst', 'default schema');

my $src_defs = $node->safe_psql('src', $indexdefs_sql);
like($src_defs, qr/items_l2: .*WITH \(graph_degree='12', build_list_size='40', alpha='1.4'\)/,
	'the original index has its options in its definition');
is($node->safe_psql('dst', $indexdefs_sql), $src_defs,
	'restored indexes have the same definitions (operator classes, options, predicates, expressions)');
is( $node->safe_psql('dst', "SELECT reloptions FROM pg_class WHERE relname = 'items_l2'"),
	'{graph_degree=12,build_list_size=40,alpha=1.4}',
	'restored index has the same reloptions');

# Top 10 of every query by every index, as text.
my $half = "'[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]'::vector(16)";
my $topk_sql = qq{
SET enable_seqscan = off;
SELECT q.qid,
	   (SELECT array_agg(id) FROM (SELECT id FROM items t ORDER BY t.v <-> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM items t ORDER BY t.v <=> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM items t ORDER BY t.v <#> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM items t WHERE category = 3 ORDER BY t.v <-> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM items t ORDER BY (t.v * $half)::vector(16) <-> q.v LIMIT 10) s)
FROM queries q ORDER BY q.qid;
};
my $plans = join(
	"\n",
	map { plan_of($node, 'dst', $_, 'SET enable_seqscan = off') } (
		"SELECT id FROM items ORDER BY v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10",
		"SELECT id FROM items ORDER BY v <=> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10",
		"SELECT id FROM items ORDER BY v <#> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10",
		"SELECT id FROM items WHERE category = 3 ORDER BY v <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10",
		"SELECT id FROM items ORDER BY (v * $half)::vector(16) <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 10"));
for my $index (qw(items_l2 items_cos items_ip items_cat3 items_half))
{
	like($plans, qr/Index Scan using $index\b/, "restored index $index is used for its queries");
}
my $src_top = $node->safe_psql('src', $topk_sql);
unlike($src_top, qr/\|\|/, 'every original index answers every query');
is($node->safe_psql('dst', $topk_sql), $src_top,
	'restored indexes return the same top 10 as the originals');
is( $node->safe_psql('dst', 'SELECT count(*), count(v) FROM items'),
	'1501|1500', 'restored table has every row');

# The restored indexes take inserts.
$node->safe_psql('dst', "INSERT INTO items SELECT i, $vec_i, 3 FROM generate_series(2001, 2020) i");
is( $node->safe_psql(
		'dst', q{
SET enable_seqscan = off;
SELECT count(*) FROM items t WHERE t.id > 2000
  AND t.id = (SELECT u.id FROM items u WHERE u.category = 3 ORDER BY u.v <-> t.v LIMIT 1);
}),
	20,
	'rows inserted after the restore are found through the restored partial index');

# ------------------------------------------- extension in its own schema

my $vvec_i = vec_sql('i', 'vec.vector');
$node->safe_psql('postgres', 'CREATE DATABASE src_schema');
$node->safe_psql(
	'src_schema', qq{
CREATE SCHEMA vec;
CREATE EXTENSION omendb SCHEMA vec;
CREATE TABLE items (id int PRIMARY KEY, v vec.vector(16));
INSERT INTO items SELECT i, $vvec_i FROM generate_series(1, 800) i;
CREATE INDEX items_l2 ON items USING omendb (v vec.vector_l2_ops) WITH (graph_degree = 20);
CREATE INDEX items_cos ON items USING omendb (v vec.vector_cosine_ops) WITH (alpha = 1.1);
});
is($node->safe_psql('src_schema', 'SHOW search_path'), '"$user", public',
	'schema vec is not on the search_path');

dump_restore('src_schema', 'dst_schema', 'extension in schema vec');

is( $node->safe_psql(
		'dst_schema',
		"SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'omendb'"),
	'vec',
	'restored extension is in schema vec');
my $schema_defs = $node->safe_psql('src_schema', $indexdefs_sql);
like($schema_defs, qr/USING omendb \(v vec\.vector_cosine_ops\) WITH \(alpha='1\.1'\)/,
	'index definitions name the operator class with its schema');
is($node->safe_psql('dst_schema', $indexdefs_sql), $schema_defs,
	'restored indexes have the same definitions');

my $q = "'[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]'::vec.vector";
my $schema_top = qq{
SET enable_seqscan = off;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v OPERATOR(vec.<->) $q LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v OPERATOR(vec.<=>) $q LIMIT 10) s);
};
my $s_top = $node->safe_psql('src_schema', $schema_top);
like($s_top, qr/^\{[\d,]+\}\|\{[\d,]+\}$/, 'original indexes answer with the schema-qualified operators');
is($node->safe_psql('dst_schema', $schema_top), $s_top,
	'restored indexes return the same top 10 as the originals');
like(
	plan_of($node, 'dst_schema', "SELECT id FROM items ORDER BY v OPERATOR(vec.<=>) $q LIMIT 10",
		'SET enable_seqscan = off'),
	qr/Index Scan using items_cos\b/,
	'restored index is used with the schema-qualified operator');

$node->stop;
done_testing();
