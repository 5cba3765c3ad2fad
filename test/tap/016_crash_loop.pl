# TAP: an omendb index survives repeated crashes in the middle of a
# concurrent write load.
#
# Four pgbench clients insert (committed, explicitly rolled back, and
# rolled back to a savepoint inside a committed transaction), update,
# delete and VACUUM a table with an omendb index, and now and then
# CHECKPOINT.  While they run, the server is killed with SIGKILL, ten
# times: on odd rounds only the postmaster (its backends finish the
# statement they are in and exit; the restart waits for them), on even
# rounds the postmaster and every one of its children at once (dirty
# shared buffers and unwritten WAL are lost, so recovery starts from
# whatever WAL reached the kernel).  Crash recovery replays every generic
# record with wal_consistency_checking.
#
# Bookkeeping: triggers record every committed insert and delete in side
# tables in the same transaction, so after a crash the committed state is
# known exactly.  Vectors are 32-d, pseudo-random from the row id and
# distinct, so an index query for a row's own vector has that row alone at
# distance 0.  After each restart:
#
#   - the table holds exactly the committed inserts minus committed deletes;
#   - queries ordered by distance use the omendb index (EXPLAIN);
#   - every committed row is the top-1 answer for its own vector (rows the
#     default search list misses are asked again with an exhaustive list,
#     and must be found then: they are in the graph and reachable; the
#     misses are reported, and must stay rare);
#   - an exhaustive index scan returns every live row exactly once;
#   - no rolled-back, crashed-in-flight, deleted or updated-away vector is
#     ever returned: the nearest row to it is at a distance > 0;
#   - omendb_check() passes (a skip where it does not exist yet);
#   - the server log of the round shows no ERROR, and recovery found no
#     inconsistent page.
#
# The index is an SQ8 one for the first ten rounds; then it is rebuilt as
# a RaBitQ index (quantizer = 'rabitq') on the table as the rounds left
# it, and two more rounds of the same load and checks run on that (one
# killing the postmaster alone, one every process).  Each index ends with
# more writes, a VACUUM and a REINDEX, checked the same way.  The RaBitQ
# codes have 4 bits: with fewer, at 32 dimensions, the error bounds are
# loose enough that a scan for a vector no row has rechecks most rows
# before it may return the first (exact order), and the checks of absent
# vectors make thousands of such scans.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $ROUNDS = 10;
my $RABITQ_ROUNDS = 2;

note('child subreaper: ' . (become_subreaper() ? 'yes' : 'no'));

# Without autovacuum: the exact live-node counts below count on VACUUM
# removing every dead row, which a concurrent autovacuum or autoanalyze
# snapshot can hold back (the rows stay dead but not removable, and their
# nodes live).
my $node = omen_node(
	'crashloop',
	conf => [
		"wal_consistency_checking = 'generic'",
		'max_connections = 30',
		'autovacuum = off',
	]);
my $db = 'postgres';

$node->safe_psql(
	$db, q{
CREATE EXTENSION omendb;
-- 32 pseudo-random elements in [0, 1) from the id: distinct for distinct ids
CREATE FUNCTION vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT array_agg((hashint4(id * 32 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
   FROM generate_series(0, 31) j $$;

CREATE TABLE items (id int PRIMARY KEY, v vector(32) NOT NULL, gen int NOT NULL DEFAULT 0);
CREATE TABLE inserted (id int PRIMARY KEY);   -- every committed insert
CREATE TABLE deleted (id int PRIMARY KEY);    -- every committed delete
CREATE FUNCTION log_insert() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO inserted VALUES (NEW.id); RETURN NULL; END $$;
CREATE FUNCTION log_delete() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO deleted VALUES (OLD.id); RETURN NULL; END $$;
CREATE TRIGGER items_insert AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION log_insert();
CREATE TRIGGER items_delete AFTER DELETE ON items FOR EACH ROW EXECUTE FUNCTION log_delete();

-- committed rows take ids from 1 up; rolled-back rows take negative ids
CREATE SEQUENCE ids START 2001;
CREATE SEQUENCE aborted_ids;

INSERT INTO items SELECT i, vec(i) FROM generate_series(1, 2000) i;
CREATE INDEX items_v ON items USING omendb (v);
CHECKPOINT;
});

# ------------------------------------------------------------ the load

my $dir = PostgreSQL::Test::Utils::tempdir();
my @scripts;
sub script
{
	my ($name, $weight, $sql) = @_;
	my $path = "$dir/$name.sql";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $sql;
	close($fh);
	push @scripts, '-f', "$path\@$weight";
}
script('insert', 10, q{
\set n random(1, 3)
INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, :n)) s;
});
script('rollback', 2, q{
\set n random(1, 3)
BEGIN;
INSERT INTO items SELECT -i, vec(-i) FROM (SELECT nextval('aborted_ids')::int AS i FROM generate_series(1, :n)) s;
ROLLBACK;
});
script('savepoint', 2, q{
BEGIN;
INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i) s;
SAVEPOINT a;
INSERT INTO items SELECT -i, vec(-i) FROM (SELECT nextval('aborted_ids')::int AS i) s;
ROLLBACK TO SAVEPOINT a;
COMMIT;
});
script('delete', 3, q{
\set r random(1, 1000000000)
DELETE FROM items WHERE id = 1 + :r % (SELECT last_value FROM ids);
});
# an updated row gets a vector no id has (-1000000 - id is never a row id)
script('update', 2, q{
\set r random(1, 1000000000)
UPDATE items SET v = vec(-1000000 - id), gen = gen + 1
 WHERE id = 1 + :r % (SELECT last_value FROM ids) AND gen = 0;
});
script('vacuum', 1, "VACUUM items;\n");
script('checkpoint', 1, "CHECKPOINT;\n");

sub start_load
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '--no-vacuum', '--client=4', '--jobs=2',
			'--time=600', @scripts, $node->connstr($db)
		],
		'>', \$out, '2>', \$err);
	return $h;
}

# ------------------------------------------------------------- checks

sub q1
{
	my ($sql) = @_;
	return $node->safe_psql($db, "SET enable_seqscan = off;\n$sql");
}

my $self_lookup = q{
SELECT t.id FROM items t
LEFT JOIN LATERAL (SELECT u.id, u.v <-> t.v AS d FROM items u ORDER BY u.v <-> t.v LIMIT 1) n ON true
WHERE n.id IS NULL OR (n.id <> t.id AND n.d <> 0)};

# Vectors no visible row has; the nearest row to each must be at a
# distance > 0.  Returns "checked|ok".  (The vectors are computed once,
# not again in each index scan's recheck of every row it returns.)
sub gone_vectors
{
	my ($ids_sql) = @_;
	return q1(qq{
WITH a AS MATERIALIZED (SELECT id, vec(id::int) AS q FROM ($ids_sql) s(id))
SELECT count(*), count(*) FILTER (WHERE n.d > 0)
FROM a
LEFT JOIN LATERAL (SELECT u.v <-> a.q AS d FROM items u ORDER BY u.v <-> a.q LIMIT 1) n ON true;
});
}

my $total_committed = 0;
my $total_gone = 0;
my $total_misses = 0;

sub check_round
{
	my ($r) = @_;

	is( $node->safe_psql(
			$db, q{
SELECT (SELECT count(*) FROM (SELECT id FROM inserted EXCEPT SELECT id FROM deleted
                              EXCEPT SELECT id FROM items) a),
       (SELECT count(*) FROM (SELECT id FROM items EXCEPT
                              (SELECT id FROM inserted EXCEPT SELECT id FROM deleted)) b)}),
		'0|0',
		"$r: the table holds exactly the committed inserts minus the committed deletes");

	like(
		plan_of($node, $db, $self_lookup, 'SET enable_seqscan = off'),
		qr/Index Scan using items_v on items u/,
		"$r: the per-row lookup by distance uses the omendb index");
	like(
		plan_of($node, $db, own_top_sql('items', 1, 1), 'SET enable_seqscan = off'),
		qr/Index Scan using items_v on items u\n\s*$ORDER_BY_PARAM/,
		"$r: the lookup of one row by its own vector is an omendb index scan in distance order");

	my $live = $node->safe_psql($db, 'SELECT count(*) FROM items');
	my @missed = split(/\n/, q1($self_lookup));
	my @lost;
	for my $id (@missed)
	{
		my $got = q1("SET omendb.search_list_size = 10000;\n" . own_top_sql('items', $id, 1));
		push @lost, "$id (found $got)" if $got ne $id;
	}
	is(scalar(@lost), 0,
		"$r: each of the $live committed rows is the top-1 answer for its own vector")
	  or diag('not found: ' . join(', ', @lost));
	note("$r: $live committed rows checked, "
		  . scalar(@missed)
		  . " of them found only with an exhaustive search list");
	cmp_ok(scalar(@missed), '<=', $live / 100,
		"$r: the default search list finds at least 99% of the rows by their own vector");
	$total_committed += $live;
	$total_misses += scalar(@missed);

	is( q1(q{
SET omendb.search_list_size = 10000;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> vec(0)) s}),
		"$live|$live",
		"$r: an exhaustive index scan returns each of the $live live rows once");

	my ($nab, $okab) = split(/\|/, gone_vectors(q{
SELECT -g FROM generate_series(1, (SELECT last_value FROM aborted_ids)) g}));
	is($okab, $nab, "$r: none of the $nab rolled-back rows' vectors is returned");

	my ($nfl, $okfl) = split(/\|/, gone_vectors(q{
SELECT g FROM generate_series(1, (SELECT last_value FROM ids)) g
WHERE NOT EXISTS (SELECT FROM inserted i WHERE i.id = g)}));
	is($okfl, $nfl,
		"$r: none of the $nfl never-committed ids' vectors (in flight at a crash) is returned");

	my ($ndel, $okdel) = split(/\|/, gone_vectors(q{
SELECT id FROM deleted UNION ALL SELECT id FROM items WHERE gen > 0}));
	is($okdel, $ndel,
		"$r: none of the $ndel deleted or updated-away vectors is returned");

	note("$r: $nab rolled back, $nfl in flight at a crash, $ndel deleted or updated away");
	$total_gone += $nab + $nfl + $ndel;

	# Index side: once VACUUM has flagged the nodes of dead rows (deleted,
	# updated away, rolled back, in flight at a crash), exactly one live
	# node per row remains; the heap check finds each row's node.  (With
	# few dead rows VACUUM may skip the indexes unless told not to.)
	$node->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) items');
	omendb_check_ok($node, $db, 'items_v',
		"$r: after VACUUM, omendb_check passes on items_v with one live node for each of the $live rows",
		heapallindexed => 1,
		live_nodes => $live);
}

# -------------------------------------------------------------- rounds

my $logpos = -s $node->logfile;

# $rounds rounds of load, crash, recovery and checks, named "$label N".
sub run_rounds
{
	my ($label, $rounds) = @_;
	for my $n (1 .. $rounds)
	{
		my $round = "$label $n";
		my $all = $n % 2 == 0;
		my $before = $node->safe_psql($db, 'SELECT count(*) FROM inserted');
		my $target = $before + 120 + ($n * 37) % 150;

		my $load = start_load();
		ok($node->poll_query_until($db, "SELECT count(*) >= $target FROM inserted"),
			"$round: the load commits inserts (up to $target logged)");
		my $nkids = crash_node($node, $all, $load);
		note("$round: SIGKILL to the postmaster"
			  . ($all ? " and its $nkids children" : " ($nkids children left to exit)"));

		$node->start;
		my $log = slurp_file($node->logfile, $logpos);
		$logpos = -s $node->logfile;
		like($log, qr/database system was interrupted|not properly shut down/,
			"$round: the server went through crash recovery");
		# When the postmaster alone is killed, its checkpointer exits too,
		# and a CHECKPOINT a backend still runs then has no one to ask:
		# the server going away, not the index.
		my @errors = grep {
			/\b(ERROR|PANIC|TRAP)\b|inconsistent page|terminated by signal/
			  && !(!$all && /ERROR:  could not signal for checkpoint: No such process$/)
		} split(/\n/, $log);
		is(scalar(@errors), 0,
			"$round: no ERROR or backend crash under the load, and recovery found no inconsistent page")
		  or diag(join("\n", @errors[ 0 .. ($#errors < 19 ? $#errors : 19) ]));

		check_round($round);
	}
}

# The index keeps working: more writes, a VACUUM and a REINDEX.
sub writes_and_reindex
{
	my ($label) = @_;
	$node->safe_psql($db, q{
INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, 200)) s;
VACUUM items;
});
	check_round("$label index, after the rounds, writes and VACUUM");
	$node->safe_psql($db, 'REINDEX INDEX items_v');
	check_round("$label index, after REINDEX");
}

run_rounds('round', $ROUNDS);
note("$ROUNDS rounds: $total_committed committed rows checked, "
	  . "$total_misses needed an exhaustive search list, "
	  . "$total_gone absent vectors checked");
writes_and_reindex('SQ8');

# The same on a RaBitQ index, built on the table as the rounds left it.
($total_committed, $total_misses, $total_gone) = (0, 0, 0);
$node->safe_psql($db, q{
DROP INDEX items_v;
CREATE INDEX items_v ON items USING omendb (v) WITH (quantizer = 'rabitq', bits = 4);
CHECKPOINT;
});
like($node->safe_psql($db, "SELECT reloptions::text FROM pg_class WHERE relname = 'items_v'"),
	qr/quantizer=rabitq/, 'items_v is rebuilt as a RaBitQ index');
check_round('RaBitQ index, as built');
run_rounds('RaBitQ round', $RABITQ_ROUNDS);
note("$RABITQ_ROUNDS RaBitQ rounds: $total_committed committed rows checked, "
	  . "$total_misses needed an exhaustive search list, "
	  . "$total_gone absent vectors checked");
writes_and_reindex('RaBitQ');

$node->stop;
done_testing();
