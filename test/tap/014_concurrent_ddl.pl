# TAP: omendb index DDL and maintenance while other sessions write.
#
# - CREATE INDEX CONCURRENTLY while 3 clients insert: the index is valid
#   and holds every row, including those inserted during the build;
# - inserts, updates and deletes while a concurrent build is held in its
#   last phase by an old snapshot: one live node per row afterwards, and
#   omendb_check's heap check passes;
# - REINDEX INDEX CONCURRENTLY while clients insert and delete: the same;
# - VACUUM while clients insert, delete, update and query: no errors,
#   and afterwards every live row, and no dead one, comes back.
#
# "Holds every row" is checked with an index scan without LIMIT and a
# search list covering the table (so the graph search is exhaustive), and
# with a sample of rows that must find themselves first.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

# Without autovacuum: the exact live-node counts below count on VACUUM
# removing every dead row, which a concurrent autovacuum or autoanalyze
# snapshot can hold back (the rows stay dead but not removable, and their
# nodes live).
my $node = omen_node('ddl', conf => ['max_connections = 30', 'autovacuum = off']);
my $db = 'postgres';

# 16 pseudo-random elements in [0, 1) from the row id (deterministic).
sub vec_sql
{
	my ($id) = @_;
	return "(SELECT array_agg((hashint4($id * 16 + j) & 65535) / 65536.0)::real[] FROM generate_series(0, 15) j)";
}

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16));
INSERT INTO items SELECT i, @{[ vec_sql('i') ]} FROM generate_series(1, 4000) i;
CREATE SEQUENCE next_id START 100001;
});

my $dir = PostgreSQL::Test::Utils::tempdir();
sub script
{
	my ($name, $sql) = @_;
	my $path = "$dir/$name.sql";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $sql;
	close($fh);
	return $path;
}
my $insert = script('insert',
	"INSERT INTO items SELECT i, @{[ vec_sql('i') ]} FROM (SELECT nextval('next_id')::int AS i) s;\n");
my $delete = script('delete', qq{
\\set id random(1, 4000)
DELETE FROM items WHERE id = :id;
UPDATE items SET v = @{[ vec_sql(':id + 50000') ]} WHERE id = :id + 1;
});
my $query = script('query', qq{
\\set q random(1, 100000)
SET enable_seqscan = off;
SELECT id FROM items ORDER BY v <-> @{[ vec_sql(':q') ]}::vector LIMIT 10;
});

# Start pgbench in the background with the given scripts.
sub start_pgbench
{
	my ($clients, $transactions, @scripts) = @_;
	my ($out, $err) = ('', '');
	my @cmd = (
		'pgbench', '--no-vacuum', "--client=$clients", "--jobs=$clients",
		"--transactions=$transactions", (map { ('-f', $_) } @scripts),
		$node->connstr($db));
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub finish_pgbench
{
	my ($b, $what) = @_;
	my $ok = $b->{h}->finish;
	ok($ok, "$what: pgbench clients finished without error")
	  or diag(${ $b->{out} } . ${ $b->{err} });
	unlike(${ $b->{out} }, qr/number of failed transactions: [1-9]/,
		"$what: no failed transactions");
}

# Every row is in the index: an exhaustive index scan returns each row once,
# and sampled rows find themselves first.
sub check_complete
{
	my ($index, $what) = @_;
	is( $node->safe_psql($db, "SELECT indisvalid FROM pg_index WHERE indexrelid = '$index'::regclass"),
		't', "$what: $index is valid");
	like(
		plan_of($node, $db, "SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'",
			'SET enable_seqscan = off'),
		qr/Index Scan using $index\b/,
		"$what: queries use $index");
	my ($total) = $node->safe_psql($db, 'SELECT count(*) FROM items');
	is( $node->safe_psql(
			$db, qq{
SET enable_seqscan = off;
SET omendb.search_list_size = 10000;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> @{[ vec_sql(7) ]}::vector) s;
}),
		"$total|$total",
		"$what: an exhaustive index scan returns each of the $total rows once");
	my $sampled = $node->safe_psql($db, 'SELECT count(*) FROM items WHERE id % 97 = 5');
	is( $node->safe_psql(
			$db, q{
SET enable_seqscan = off;
SELECT count(*) FROM items t WHERE t.id % 97 = 5
  AND t.id = (SELECT u.id FROM items u ORDER BY u.v <-> t.v LIMIT 1);
}),
		$sampled,
		"$what: sampled rows find themselves first");
}

# ------------------------------------------- CREATE INDEX CONCURRENTLY

my $b = start_pgbench(3, 1500, $insert);
$node->safe_psql($db, 'CREATE INDEX CONCURRENTLY items_l2 ON items USING omendb (v)');
finish_pgbench($b, 'inserts during CREATE INDEX CONCURRENTLY');
is($node->safe_psql($db, 'SELECT count(*) FROM items'), 4000 + 4500,
	'all rows inserted during the build are in the table');
check_complete('items_l2', 'CREATE INDEX CONCURRENTLY with concurrent inserts');

# ------------------- writes while CREATE INDEX CONCURRENTLY waits to finish
#
# Not left to the luck of pgbench's timing: a session holding an old
# snapshot keeps a concurrent build in its last phase, "waiting for old
# snapshots", where the index already takes inserts.  Rows are inserted,
# updated and deleted in that window; then the snapshot goes, the build
# completes, and the index holds exactly the table's rows.

my $holder = $node->background_psql($db);
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT 1');
my $cic = $node->background_psql($db);
$cic->query_until(qr/building/, q{
\echo building
CREATE INDEX CONCURRENTLY items_window ON items USING omendb (v vector_cosine_ops);
});
ok( $node->poll_query_until(
		$db,
		"SELECT count(*) > 0 FROM pg_stat_progress_create_index WHERE phase = 'waiting for old snapshots'"),
	'CREATE INDEX CONCURRENTLY is held waiting for the old snapshot');
$node->safe_psql(
	$db, qq{
INSERT INTO items SELECT i, @{[ vec_sql('i') ]} FROM generate_series(200001, 200300) i;
UPDATE items SET v = @{[ vec_sql('id + 300000') ]} WHERE id % 50 = 7;
DELETE FROM items WHERE id % 50 = 9;
});
is( $node->safe_psql($db,
		"SELECT phase FROM pg_stat_progress_create_index WHERE relid = 'items'::regclass"),
	'waiting for old snapshots',
	'the writes ran while the build was still waiting');
$holder->query_safe('COMMIT');
$holder->quit;
$cic->quit;
is($node->safe_psql($db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_window'::regclass"),
	't', 'the build completes once the snapshot is gone');
$node->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) items');
omendb_check_ok($node, $db, 'items_window',
	'writes in the window: after VACUUM, one live node for every row, each row indexed (heapallindexed)',
	heapallindexed => 1,
	live_nodes => $node->safe_psql($db, 'SELECT count(*) FROM items'));
$node->safe_psql($db, 'DROP INDEX items_window');

# ------------------------------------------- REINDEX INDEX CONCURRENTLY

$b = start_pgbench(3, 800, $insert, $delete);
$node->safe_psql($db, 'REINDEX INDEX CONCURRENTLY items_l2');
finish_pgbench($b, 'inserts and deletes during REINDEX CONCURRENTLY');
check_complete('items_l2', 'REINDEX INDEX CONCURRENTLY with concurrent writes');

# ------------------------------------------- VACUUM during writes and reads

$b = start_pgbench(4, 1500, $insert, $delete, $query);
for (1 .. 5)
{
	$node->safe_psql($db, 'VACUUM items');
}
finish_pgbench($b, 'inserts, deletes, updates and queries during VACUUM');
$node->safe_psql($db, 'VACUUM items');
check_complete('items_l2', 'after VACUUM with concurrent writes');

my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|TRAP|terminated by signal|index .* (contains|has) /,
	'server log: no crash and no index corruption reported');

$node->stop;
done_testing();
