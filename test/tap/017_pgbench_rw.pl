# TAP: an omendb index under concurrent readers, writers and VACUUM.
#
# pgbench runs 4 writer clients (inserts, and now and then a delete) and 4
# reader clients (ORDER BY v <-> q LIMIT 10 through the index) for a fixed
# number of transactions each, while this script runs VACUUM in a loop
# until the writers are done.  Each reader query checks its own answer in
# SQL: exactly 10 rows in nondecreasing exact distance, else it raises an
# error (a failed transaction).  Then:
#
#   - both pgbench runs processed every transaction and none failed, and the
#     server log shows no error or crashed backend;
#   - omendb_check() passes (a skip where it does not exist yet);
#   - every live row is the top-1 answer of an index scan (EXPLAIN) for
#     its own vector (rows the default search list misses must be found
#     with an exhaustive one);
#   - an exhaustive index scan returns every live row once, and no deleted
#     row's vector is returned.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $WRITER_TX = 600;    # per writer client
my $READER_TX = 1000;   # per reader client

# Without autovacuum: the exact live-node counts below count on VACUUM
# removing every dead row, which a concurrent autovacuum or autoanalyze
# snapshot can hold back (the rows stay dead but not removable, and their
# nodes live).
my $node = omen_node('rw', conf => ['max_connections = 30', 'autovacuum = off']);
my $db = 'postgres';

$node->safe_psql(
	$db, q{
CREATE EXTENSION omendb;
CREATE FUNCTION vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT array_agg((hashint4(id * 32 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
   FROM generate_series(0, 31) j $$;
CREATE FUNCTION fail(msg text) RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION '%', msg; END $$;
CREATE TABLE items (id int PRIMARY KEY, v vector(32) NOT NULL);
CREATE TABLE deleted (id int PRIMARY KEY);
CREATE FUNCTION log_delete() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO deleted VALUES (OLD.id); RETURN NULL; END $$;
CREATE TRIGGER items_delete AFTER DELETE ON items FOR EACH ROW EXECUTE FUNCTION log_delete();
CREATE SEQUENCE ids START 3001;
INSERT INTO items SELECT i, vec(i) FROM generate_series(1, 3000) i;
CREATE INDEX items_v ON items USING omendb (v);
});

my $dir = PostgreSQL::Test::Utils::tempdir();
sub script
{
	my ($name, $weight, $sql) = @_;
	my $path = "$dir/$name.sql";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $sql;
	close($fh);
	return ('-f', "$path\@$weight");
}
my @writer = (
	script('insert', 9, q{
\set n random(1, 3)
INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, :n)) s;
}),
	script('delete', 1, q{
\set r random(1, 1000000000)
DELETE FROM items WHERE id = 1 + :r % (SELECT last_value FROM ids);
}));
my $knn = q{SELECT v FROM items ORDER BY v <-> vec(:q) LIMIT 10};
my @reader = script('query', 1, qq{
\\set q random(10000000, 60000000)
SELECT CASE WHEN count(*) = 10 AND coalesce(bool_and(d >= p), true) THEN count(*)
            ELSE fail(format('query vec(%s): %s rows, or not in distance order', :q, count(*))) END
FROM (SELECT d, lag(d) OVER (ORDER BY r) AS p
      FROM (SELECT v <-> vec(:q) AS d, row_number() OVER () AS r FROM ($knn) s) t) u;
});

like(
	plan_of($node, $db, $knn =~ s/:q/42/r, 'SET enable_seqscan = off'),
	qr/Index Scan using items_v on items/,
	'the readers\' top-10 query uses the omendb index');

# The major version of this pgbench
my ($pgbench_major) = `pgbench --version` =~ /\(PostgreSQL\) (\d+)/;
my $pgbench_counts_failures = ($pgbench_major // 0) >= 15;

sub start_pgbench
{
	my ($clients, $tx, @scripts) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '--no-vacuum', "--client=$clients", "--jobs=$clients",
			"--transactions=$tx", @scripts, $node->connstr($db)
		],
		'>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err, expect => $clients * $tx };
}

sub finish_pgbench
{
	my ($b, $what) = @_;
	my $ok = $b->{h}->finish;
	my $out = ${ $b->{out} };
	ok($ok, "$what: pgbench exited successfully")
	  or diag($out . ${ $b->{err} });
	my ($done, $planned) =
	  $out =~ m{number of transactions actually processed: (\d+)/(\d+)};
	is($done // -1, $b->{expect},
		"$what: all $b->{expect} transactions were processed");
	# pgbench counts failed transactions from PostgreSQL 15 on; before,
	# an error aborts its client, so every transaction processed is the
	# proof that none failed.
	my ($failed) = $out =~ /number of failed transactions: (\d+)/;
	if ($pgbench_counts_failures)
	{
		is($failed // -1, 0, "$what: no transaction failed");
	}
	else
	{
		ok(!defined $failed && ($done // -1) == $b->{expect},
			"$what: no transaction failed (none aborted its client)");
	}
	unlike(${ $b->{err} }, qr/ERROR|aborted/, "$what: no client reported an error")
	  or diag(${ $b->{err} });
	return;
}

my $logpos = -s $node->logfile;
my $writers = start_pgbench(4, $WRITER_TX, @writer);
my $readers;
{
	local $ENV{PGOPTIONS} = '-c enable_seqscan=off';
	$readers = start_pgbench(4, $READER_TX, @reader);
}

# VACUUM in a loop while the writers run.
my $vacuums = 0;
while ($writers->{h}->pumpable)
{
	$writers->{h}->pump_nb;
	$node->safe_psql($db, 'VACUUM items');
	$vacuums++;
}
note("$vacuums VACUUMs ran during the writes");
cmp_ok($vacuums, '>=', 1, 'VACUUM ran while the writers wrote');

finish_pgbench($writers, "writers (4 clients x $WRITER_TX)");
finish_pgbench($readers, "readers (4 clients x $READER_TX)");

my $log = slurp_file($node->logfile, $logpos);
my @errors = grep { /\b(ERROR|PANIC|TRAP)\b|terminated by signal/ } split(/\n/, $log);
is(scalar(@errors), 0, 'server log: no error or crashed backend during the run')
  or diag(join("\n", @errors[ 0 .. ($#errors < 19 ? $#errors : 19) ]));

# INDEX_CLEANUP ON: with few dead rows VACUUM may otherwise skip the
# indexes, and leave their nodes live.
$node->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) items');
my ($live, $ndel) = split(/\|/,
	$node->safe_psql($db, 'SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM deleted)'));
note("$live live rows, $ndel deleted");

omendb_check_ok($node, $db, 'items_v',
	"after VACUUM, omendb_check passes with one live node for each of the $live rows",
	heapallindexed => 1,
	live_nodes => $live);

my $self_lookup = q{
SELECT t.id FROM items t
LEFT JOIN LATERAL (SELECT u.id, u.v <-> t.v AS d FROM items u ORDER BY u.v <-> t.v LIMIT 1) n ON true
WHERE n.id IS NULL OR (n.id <> t.id AND n.d <> 0)};

like(
	plan_of($node, $db, $self_lookup, 'SET enable_seqscan = off'),
	qr/Index Scan using items_v on items u/,
	'the lookup of every row by its own vector uses the omendb index');
like(
	plan_of($node, $db, own_top_sql('items', 1, 1), 'SET enable_seqscan = off'),
	qr/Index Scan using items_v on items u\n\s*$ORDER_BY_PARAM/,
	'the lookup of one row by its own vector is an omendb index scan in distance order');

my @missed = split(/\n/, $node->safe_psql($db, "SET enable_seqscan = off;\n$self_lookup"));
my @lost;
for my $id (@missed)
{
	my $got = $node->safe_psql($db,
		"SET enable_seqscan = off;\nSET omendb.search_list_size = 10000;\n" . own_top_sql('items', $id, 1));
	push @lost, "$id (found $got)" if $got ne $id;
}
is(scalar(@lost), 0, "each of the $live live rows is the top-1 answer for its own vector")
  or diag('not found: ' . join(', ', @lost));
note(scalar(@missed) . ' rows found only with an exhaustive search list');
cmp_ok(scalar(@missed), '<=', $live / 100,
	'the default search list finds at least 99% of the rows by their own vector');

is( $node->safe_psql(
		$db, q{
SET enable_seqscan = off;
SET omendb.search_list_size = 10000;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> vec(0)) s}),
	"$live|$live",
	"an exhaustive index scan returns each of the $live live rows once");

is( $node->safe_psql(
		$db, q{
SET enable_seqscan = off;
SELECT count(*) FILTER (WHERE n.d = 0) FROM deleted x
CROSS JOIN LATERAL (SELECT u.v <-> vec(x.id) AS d FROM items u ORDER BY u.v <-> vec(x.id) LIMIT 1) n}),
	0,
	"none of the $ndel deleted rows' vectors is returned");

$node->stop;
done_testing();
