# TAP: monitoring/omendb-queries.yaml with Debian's prometheus-postgres-exporter.
#
# The exporter, run as README.md's "Monitoring with Prometheus" sets it up
# (a login role with pg_monitor and SELECT on the tables it watches, the
# queries file, auto-discovery limited to the databases that have omendb),
# exports omendb_index_stats for every omendb index it may read: one series
# per index and column, labelled by database, schema, table, index, metric
# and quantizer, with the function's values.  An index on a table the role
# may not read is left out without failing the scrape.  The figures follow
# the index: after a DELETE and a VACUUM the live, deleted and free nodes
# of the next scrape are those of the index.
#
# test/run copies the queries file beside this test and passes its path in
# OMENDB_EXPORTER_QUERIES.  The exporter listens on 127.0.0.1 only, and is
# stopped at the end, and by the END block if the test dies.
use strict;
use warnings;

use HTTP::Tiny;
use IPC::Run;
use JSON::PP qw(decode_json);
use OmenTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $queries = $ENV{OMENDB_EXPORTER_QUERIES};
BAIL_OUT('OMENDB_EXPORTER_QUERIES not set (test/run sets it)') unless defined $queries;
BAIL_OUT("no queries file at $queries") unless -r $queries;
my $exporter_bin = 'prometheus-postgres-exporter';
BAIL_OUT("$exporter_bin not on PATH (package prometheus-postgres-exporter)")
  unless grep { -x "$_/$exporter_bin" } split(/:/, $ENV{PATH});

my $exporter;
END { $exporter->kill_kill if $exporter && $exporter->pumpable; }

# autovacuum off: the index changes only when the test changes it, so the
# function gives the same figures to the exporter and to the test
my $node = omen_node('prom', conf => ['autovacuum = off']);

# postgres: the database of the exporter's connection; vec2: another
# database with omendb, found by auto-discovery.
$node->safe_psql('postgres', 'CREATE DATABASE vec2');
$node->safe_psql(
	'postgres', q{
CREATE ROLE prometheus LOGIN;
GRANT pg_monitor TO prometheus;
});

# Deterministic vectors: row i of dimension d
sub fill_sql
{
	my ($table, $dim, $from, $to) = @_;
	return qq{INSERT INTO $table SELECT i, ARRAY(SELECT sin(i * 0.37 + j) + (i % 11) * 0.1
		FROM generate_series(1, $dim) j)::real[]::vector($dim)
	FROM generate_series($from, $to) i;};
}

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, embedding vector(16));
@{[ fill_sql('items', 16, 1, 1000) ]}
CREATE INDEX items_embedding_idx ON items USING omendb (embedding vector_l2_ops);
GRANT SELECT ON items TO prometheus;

CREATE SCHEMA app;
CREATE TABLE app.docs (id int PRIMARY KEY, embedding vector(8));
@{[ fill_sql('app.docs', 8, 1, 300) ]}
CREATE INDEX docs_cosine_idx ON app.docs USING omendb (embedding vector_cosine_ops);
GRANT USAGE ON SCHEMA app TO prometheus;
GRANT SELECT ON app.docs TO prometheus;

-- an index on a table the exporter's role may not read
CREATE TABLE secret (id int PRIMARY KEY, embedding vector(4));
@{[ fill_sql('secret', 4, 1, 50) ]}
CREATE INDEX secret_embedding_idx ON secret USING omendb (embedding);
ANALYZE;
});
$node->safe_psql(
	'vec2', qq{
CREATE EXTENSION omendb;
CREATE TABLE notes (id int PRIMARY KEY, embedding vector(4));
@{[ fill_sql('notes', 4, 1, 120) ]}
CREATE INDEX notes_embedding_idx ON notes USING omendb (embedding);
GRANT SELECT ON notes TO prometheus;
ANALYZE;
});

# ------------------------------------------------------------ the exporter

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $log = PostgreSQL::Test::Utils::tempdir . '/exporter.log';
my $dsn = sprintf('host=%s port=%d user=prometheus dbname=postgres sslmode=disable',
	$node->host, $node->port);
{
	local $ENV{DATA_SOURCE_NAME} = $dsn;
	$exporter = IPC::Run::start(
		[
			$exporter_bin, "--web.listen-address=127.0.0.1:$port",
			"--extend.query-path=$queries", '--auto-discover-databases',
			'--include-databases=vec2'
		],
		'<', \undef, '>', $log, '2>&1');
}
my $url = "http://127.0.0.1:$port/metrics";
my $http = HTTP::Tiny->new(timeout => 30);

# The exporter's log, for diagnostics.
sub exporter_log
{
	return -e $log ? PostgreSQL::Test::Utils::slurp_file($log) : '(no log)';
}

# Wait until the exporter answers (it listens once it has read its flags).
my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
my $res;
while (1)
{
	$res = $http->get($url);
	last if $res->{success};
	BAIL_OUT("exporter exited before answering:\n" . exporter_log())
	  unless $exporter->pumpable;
	BAIL_OUT("exporter did not answer on $url:\n" . exporter_log())
	  if time() > $deadline;
	select(undef, undef, undef, 0.1);
}
pass("the exporter answers on $url");

# One scrape: { name => { 'label="v",...' => value } } of every sample, and
# the text of the omendb samples.
sub scrape
{
	my $r = $http->get($url);
	die "GET $url: $r->{status} $r->{reason}\n" . exporter_log() unless $r->{success};
	my (%m, @omendb);
	for my $line (split /\n/, $r->{content})
	{
		next if $line =~ /^#/;
		my ($name, $labels, $value) = $line =~ /^(\w+)(?:\{(.*)\})? (\S+)$/
		  or next;
		$m{$name}{ $labels // '' } = $value;
		push @omendb, $line if $name =~ /^omendb_/;
	}
	return (\%m, join("\n", @omendb));
}

# The labels of a series, as a hash.
sub labels_of
{
	my ($labels) = @_;
	return { $labels =~ /(\w+)="((?:[^"\\]|\\.)*)"/g };
}

# The value of metric $name for the index $index (of database $db), or
# undef if it has no series; dies if it has several.
sub value_for
{
	my ($m, $name, $db, $index) = @_;
	my @v = map { $m->{$name}{$_} }
	  grep {
		my $l = labels_of($_);
		($l->{datname} // '') eq $db && ($l->{index} // '') eq $index
	  } keys %{ $m->{$name} // {} };
	die "several series of $name for $db.$index" if @v > 1;
	return $v[0];
}

# The function's row for an index, read by the exporter's role.
sub stats_of
{
	my ($db, $index) = @_;
	my $json = $node->safe_psql($db,
		"SET ROLE prometheus; SELECT row_to_json(s) FROM omendb_index_stats('$index'::regclass) s");
	return decode_json($json);
}

# The function's OUT columns with a number (or boolean) type: each must be
# a metric, the text ones labels.
my @numeric = split /\n/, $node->safe_psql(
	'postgres', q{
SELECT name FROM pg_proc p,
	unnest(p.proargnames, p.proargmodes, p.proallargtypes::regtype[]) AS a(name, mode, type)
WHERE p.proname = 'omendb_index_stats' AND mode = 'o' AND type::text <> 'text'
ORDER BY name});
my @text = split /\n/, $node->safe_psql(
	'postgres', q{
SELECT name FROM pg_proc p,
	unnest(p.proargnames, p.proargmodes, p.proallargtypes::regtype[]) AS a(name, mode, type)
WHERE p.proname = 'omendb_index_stats' AND mode = 'o' AND type::text = 'text'
ORDER BY name});
cmp_ok(scalar(@numeric), '>', 10, 'omendb_index_stats has numeric OUT columns: ' . join(' ', @numeric));

# Equal as figures: the exporter prints a float64, PostgreSQL its text; a
# NULL is NaN.
sub same_figure
{
	my ($got, $want) = @_;
	return 0 unless defined $got;
	return $got =~ /^NaN$/i if !defined $want;
	$want = 1 if JSON::PP::is_bool($want) && $want;
	$want = 0 if JSON::PP::is_bool($want) && !$want;
	return abs($got - $want) <= 1e-9 * (abs($want) > 1 ? abs($want) : 1);
}

# Every numeric column of index $index in $db is exported with the
# function's value (it reads a fixed sample of node pages, so an index that
# did not change gives the same figures twice), under the expected labels.
sub exported_ok
{
	my ($m, $db, $schema, $table, $index, $what) = @_;
	my $stats = stats_of($db, "$schema.$index");
	my @problems;
	for my $col (@numeric)
	{
		my $got = value_for($m, "omendb_index_$col", $db, $index);
		if (!defined $got)
		{
			push @problems, "no omendb_index_$col";
		}
		elsif (!same_figure($got, $stats->{$col}))
		{
			push @problems,
			  "omendb_index_$col is $got, omendb_index_stats says " . ($stats->{$col} // 'NULL');
		}
	}
	my ($series) = grep { labels_of($_)->{index} eq $index && labels_of($_)->{datname} eq $db }
	  keys %{ $m->{omendb_index_live_nodes} // {} };
	my $l = labels_of($series // '');
	my %want = (datname => $db, schema => $schema, table => $table, index => $index,
		map { $_ => $stats->{$_} } @text);
	for my $k (sort keys %want)
	{
		push @problems, "label $k is " . ($l->{$k} // 'missing') . ", expected $want{$k}"
		  unless ($l->{$k} // '') eq $want{$k};
	}
	ok(!@problems, "$what: every numeric column of omendb_index_stats exported, with its labels")
	  or diag(join("\n", @problems));
	return $stats;
}

# ---------------------------------------------------------- first scrape

my ($m, $text) = scrape();
note("omendb samples of the first scrape:\n$text");

is($m->{pg_up}{''}, 1, 'pg_up is 1');
is($m->{pg_exporter_last_scrape_error}{''}, 0, 'the scrape ran every query without an error')
  or diag(exporter_log());

my $items = exported_ok($m, 'postgres', 'public', 'items', 'items_embedding_idx', 'items');
my $docs = exported_ok($m, 'postgres', 'app', 'docs', 'docs_cosine_idx', 'app.docs');
is($items->{metric} . ' ' . $items->{quantizer}, 'l2 sq8', 'items: labels metric="l2", quantizer="sq8"');
is($docs->{metric}, 'cosine', 'app.docs: label metric="cosine"');
exported_ok($m, 'vec2', 'public', 'notes', 'notes_embedding_idx',
	'notes in database vec2, found by auto-discovery');

is(value_for($m, 'omendb_index_live_nodes', 'postgres', 'items_embedding_idx'),
	1000, 'items: 1000 live nodes, one per row');
is(value_for($m, 'omendb_index_deleted_nodes', 'postgres', 'items_embedding_idx'),
	0, 'items: no deleted nodes');
is(value_for($m, 'omendb_index_free_nodes', 'postgres', 'items_embedding_idx'),
	0, 'items: no free nodes');
is(value_for($m, 'omendb_index_dimensions', 'postgres', 'items_embedding_idx'),
	16, 'items: 16 dimensions');
is(value_for($m, 'omendb_index_vacuum_freed', 'postgres', 'items_embedding_idx'),
	'NaN', 'items: the VACUUM figures are NaN before the first VACUUM');
is(value_for($m, 'omendb_index_bytes', 'postgres', 'items_embedding_idx'),
	$node->safe_psql('postgres', "SELECT pg_relation_size('items_embedding_idx')"),
	'items: bytes is the size of the index');
is(value_for($m, 'omendb_index_live_nodes', 'postgres', 'docs_cosine_idx'),
	300, 'app.docs: 300 live nodes');
is(value_for($m, 'omendb_index_live_nodes', 'vec2', 'notes_embedding_idx'),
	120, 'vec2 notes: 120 live nodes');

my @secret = grep { /index="secret_embedding_idx"/ } keys %{ $m->{omendb_index_live_nodes} // {} };
is(scalar(@secret), 0, 'no series for the index on a table the role may not read');
is( scalar(keys %{ $m->{omendb_index_live_nodes} // {} }),
	3, 'one live_nodes series for each of the three readable indexes');

# ------------------------------------------- after a DELETE and a VACUUM

$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 5 = 0');
$node->safe_psql('postgres', 'VACUUM items');

($m, $text) = scrape();
note("omendb samples after DELETE and VACUUM:\n$text");
is($m->{pg_exporter_last_scrape_error}{''}, 0, 'the second scrape ran without an error')
  or diag(exporter_log());
my $after = exported_ok($m, 'postgres', 'public', 'items', 'items_embedding_idx',
	'items after DELETE and VACUUM');

is(value_for($m, 'omendb_index_live_nodes', 'postgres', 'items_embedding_idx'),
	800, 'items: 800 live nodes after deleting 200 rows and VACUUM');
# (VACUUM then moved the last pages' nodes into the freed slots and cut
# off the pages it emptied)
is( value_for($m, 'omendb_index_live_nodes', 'postgres', 'items_embedding_idx')
	  + value_for($m, 'omendb_index_deleted_nodes', 'postgres', 'items_embedding_idx')
	  + value_for($m, 'omendb_index_free_nodes', 'postgres', 'items_embedding_idx'),
	value_for($m, 'omendb_index_nodes', 'postgres', 'items_embedding_idx'),
	'items: the node slots are the live, deleted and free ones');
cmp_ok(value_for($m, 'omendb_index_nodes', 'postgres', 'items_embedding_idx'),
	'<', $items->{nodes}, 'items: the pages VACUUM emptied were cut off');
is(value_for($m, 'omendb_index_vacuum_deleted', 'postgres', 'items_embedding_idx'),
	200, 'items: the VACUUM met the 200 deleted nodes');
cmp_ok(value_for($m, 'omendb_index_vacuum_freed', 'postgres', 'items_embedding_idx'),
	'>=', 199, 'items: it freed them (all but at most the entry node)');

# ----------------------------------------------------------- stop it

# SIGTERM, and SIGKILL if it has not exited after a grace period
$exporter->kill_kill(grace => 10);
ok(!$exporter->pumpable, 'the exporter stopped');
undef $exporter;

done_testing();
