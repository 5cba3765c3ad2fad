# TAP: omendb indexes over streaming replication.
#
# Every change to an omendb index is WAL-logged (generic xlog, and whole
# pages for a build), so a streaming standby replays it into the same
# pages: it returns the same nearest neighbours as the primary, for an
# index built on data, one built empty and filled by inserts (which trains
# the quantizer from the first vector), after concurrent inserts, deletes,
# updates, VACUUM and REINDEX CONCURRENTLY, and VACUUM's graph repair
# and freeing of slots around a deleted entry point and inserts that
# reuse the slots (the standby has the primary's entry point and node
# counts too).  All of it holds for RaBitQ indexes as for SQ8 ones: one
# built on data with 2-bit codes under L2, one built empty with the
# default 1-bit codes under cosine (trained by the first insert), and a
# third in VACUUM's repair and slot reuse, each on a table that takes the
# same writes as its SQ8 counterpart, and promotion; and their quantizer
# pages (the seed, the bits, the centroid) are the primary's bytes.
# wal_consistency_checking =
# 'generic' on the primary makes the standby compare every replayed
# generic record's pages with the primary's images.  A cursor over an
# index scan on the standby, while the primary deletes and VACUUMs, is
# cancelled cleanly by the recovery conflict, or, with
# hot_standby_feedback, returns its snapshot's rows exactly.  Finally the
# standby is promoted and its indexes take writes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $primary = omen_node(
	'primary',
	init => { allows_streaming => 1 },
	conf => ["wal_consistency_checking = 'generic'"]);
my $db = 'postgres';
is($primary->safe_psql($db, 'SHOW wal_consistency_checking'),
	'generic', 'the primary logs page images for the consistency check of generic records');
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# 32-dimensional vectors from a deterministic formula: row i, element j.
sub vec_sql
{
	my ($i) = @_;
	return wave_vec_sql($i, 32);
}
my $vec_i = vec_sql('i');

$primary->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE EXTENSION pageinspect;
CREATE TABLE items (id int PRIMARY KEY, v vector(32));
INSERT INTO items SELECT i, $vec_i FROM generate_series(1, 2000) i;
CREATE INDEX items_l2 ON items USING omendb (v);
-- (with the rows' vectors on its nodes: scans compute exact distances)
CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops) WITH (graph_degree = 16, store_vectors = on);
-- built empty: the first insert trains the quantizer
CREATE TABLE items_empty (id int PRIMARY KEY, v vector(32));
CREATE INDEX items_empty_ip ON items_empty USING omendb (v vector_ip_ops);
INSERT INTO items_empty SELECT i, $vec_i FROM generate_series(1, 500) i;
-- RaBitQ: the same rows, one index built on them with 2-bit codes, one
-- built empty with the default 1 bit, trained by the first insert, which
-- stores the rows' vectors
CREATE TABLE rq (id int PRIMARY KEY, v vector(32));
INSERT INTO rq SELECT i, $vec_i FROM generate_series(1, 2000) i;
CREATE INDEX rq_l2 ON rq USING omendb (v) WITH (quantizer = 'rabitq', bits = 2);
CREATE TABLE rq_empty (id int PRIMARY KEY, v vector(32));
CREATE INDEX rq_empty_cos ON rq_empty USING omendb (v vector_cosine_ops) WITH (quantizer = 'rabitq', store_vectors = on);
INSERT INTO rq_empty SELECT i, $vec_i FROM generate_series(1, 500) i;
CREATE TABLE queries (qid int PRIMARY KEY, v vector(32));
INSERT INTO queries SELECT q, @{[ vec_sql('(q + 0.5)') ]} FROM generate_series(1, 40) q;
CREATE SEQUENCE fill START 2001;
CREATE SEQUENCE rq_fill START 2001;
});

# Concurrent inserts: 4 clients, 1000 rows.
$primary->pgbench(
	'--no-vacuum --client=4 --jobs=4 --transactions=250',
	0,
	[qr{processed: 1000/1000}],
	[qr{^$}],
	'4 clients insert 1,000 rows concurrently on the primary',
	{
		'011_standby_insert.sql' => qq{
INSERT INTO items SELECT i, $vec_i FROM (SELECT nextval('fill')::int AS i) s;
INSERT INTO items_empty SELECT i, $vec_i FROM (SELECT nextval('fill')::int + 100000 AS i) s;
INSERT INTO rq SELECT i, $vec_i FROM (SELECT nextval('rq_fill')::int AS i) s;
INSERT INTO rq_empty SELECT i, $vec_i FROM (SELECT nextval('rq_fill')::int + 100000 AS i) s;
}
	});

# Deletes, updates (new vectors), VACUUM, more inserts into the freed space.
$primary->safe_psql(
	$db, qq{
DELETE FROM items WHERE id % 7 = 0;
UPDATE items SET v = v * '[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1]' WHERE id % 11 = 0;
DELETE FROM items_empty WHERE id % 3 = 0;
DELETE FROM rq WHERE id % 7 = 0;
UPDATE rq SET v = v * '[-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1]' WHERE id % 11 = 0;
DELETE FROM rq_empty WHERE id % 3 = 0;
VACUUM items, items_empty, rq, rq_empty;
INSERT INTO items SELECT i, $vec_i FROM generate_series(5001, 5300) i;
INSERT INTO rq SELECT i, $vec_i FROM generate_series(5001, 5300) i;
});

# The top 10 of every query by each index, on one node, as text.
my $topk_sql = q{
SET enable_seqscan = off;
SELECT q.qid,
	   (SELECT array_agg(id) FROM (SELECT id FROM items t ORDER BY t.v <-> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM items t ORDER BY t.v <=> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM items_empty t ORDER BY t.v <#> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM rq t ORDER BY t.v <-> q.v LIMIT 10) s),
	   (SELECT array_agg(id) FROM (SELECT id FROM rq_empty t ORDER BY t.v <=> q.v LIMIT 10) s)
FROM queries q ORDER BY q.qid;
};

# The standby plans its queries on the indexes too.
sub uses_indexes
{
	my ($node, $what) = @_;
	for my $c (['items', '<->', 'items_l2'], ['items', '<=>', 'items_cos'],
		['items_empty', '<#>', 'items_empty_ip'], ['rq', '<->', 'rq_l2'],
		['rq_empty', '<=>', 'rq_empty_cos'])
	{
		my ($table, $op, $index) = @$c;
		like(
			plan_of(
				$node, $db,
				"SELECT id FROM $table ORDER BY v $op '[" . join(',', (1) x 32) . "]' LIMIT 10",
				'SET enable_seqscan = off'),
			qr/Index Scan using $index\b/,
			"$what: ORDER BY $op uses $index");
	}
}

sub compare
{
	my ($what) = @_;
	# a first pass on the primary flags the nodes of dead rows its scans
	# meet (kill_prior_tuple), in records of their own; deleted nodes take
	# no place in a search's list, so the standby answers as the primary
	# only once it has replayed them
	$primary->safe_psql($db, $topk_sql);
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	my $p = $primary->safe_psql($db, $topk_sql);
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	my $s = $standby->safe_psql($db, $topk_sql);
	my $nq = () = $p =~ /\n/g;
	is($nq + 1, 40, "$what: 40 queries answered on the primary");
	unlike($p, qr/\|\|/, "$what: every query has results on the primary");
	is($s, $p, "$what: the standby returns the same top 10 as the primary, for each index");
	my $rows_sql = 'SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM rq)';
	is($standby->safe_psql($db, $rows_sql), $primary->safe_psql($db, $rows_sql),
		"$what: the standby has the primary's rows");
	same_quantizer_pages($what);
}

# A RaBitQ index's quantizer pages (each set's header, with the seed and
# the bits, and the centroid: src/omendb_rabitq.c), written by the build
# or by the first insert, are the primary's bytes on the standby.
my %rq_bits = (rq_l2 => 2, rq_empty_cos => 1);
sub raw_page
{
	my ($node, $index, $blkno) = @_;
	return pack('H*', $node->safe_psql($db, "SELECT encode(get_raw_page('$index', $blkno), 'hex')"));
}

sub same_quantizer_pages
{
	my ($what) = @_;
	for my $index (sort keys %rq_bits)
	{
		# the meta page's nquant_blocks: after the page header (24 bytes)
		# and 44 bytes of OmenMetaPageData
		my $nquant = unpack('L', substr(raw_page($primary, $index, 0), 24 + 44, 4));
		is($nquant, 2, "$what: $index has two quantizer pages, one a parameter set");
		for my $blkno (1 .. $nquant)
		{
			my $page = raw_page($standby, $index, $blkno);
			# the one item, from its line pointer; its header's bits at 8
			my $item = unpack('L', substr($page, 24, 4)) & 0x7FFF;
			is(unpack('S', substr($page, $item + 8, 2)), $rq_bits{$index},
				"$what: ${index}'s quantizer page $blkno on the standby says $rq_bits{$index} bit(s)");
			ok($page eq raw_page($primary, $index, $blkno),
				"$what: ${index}'s quantizer page $blkno on the standby is the primary's, byte for byte");
		}
	}
}

uses_indexes($standby, 'standby');
compare('after build, concurrent inserts, deletes, updates, VACUUM');

# With omendb.exact_order off the scans of the RaBitQ indexes and of the
# SQ8 L2 and cosine ones bound rows by their likely errors and read the
# rows' vectors from the heap themselves (and on the primary flag the dead
# rows they meet there); on the standby, in recovery, they do the same
# reads and flag nothing, and answer as the primary does.
{
	my $probable_sql = "SET omendb.exact_order = off; $topk_sql";
	$primary->safe_psql($db, $probable_sql);
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	my $p = $primary->safe_psql($db, $probable_sql);
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	is($standby->safe_psql($db, $probable_sql), $p,
		'exact_order off: the standby returns the same top 10 as the primary, for each index');
	unlike($p, qr/\|\|/, 'exact_order off: every query has results');
}

# omendb_check runs on the standby too (during recovery, read-only, with
# the heap cross-check) and counts what it counts on the primary.
for my $index (qw(items_l2 items_cos items_empty_ip rq_l2 rq_empty_cos))
{
	my $sql = "SELECT nodes, live_nodes, deleted_nodes FROM omendb_check('$index', true)";
	is($standby->safe_psql($db, $sql), $primary->safe_psql($db, $sql),
		"omendb_check of $index passes on the standby, with the primary's counts");
}
# An unlogged index has no data on a standby: nothing to check, no error.
$primary->safe_psql(
	$db, qq{
CREATE UNLOGGED TABLE items_unlogged AS SELECT * FROM items WHERE id <= 100;
CREATE INDEX items_unlogged_l2 ON items_unlogged USING omendb (v);
});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql($db, "SELECT nodes, live_nodes FROM omendb_check('items_unlogged_l2', true)"),
	'0|0', 'omendb_check of an unlogged index on the standby finds nothing to check');

# Rebuilds replicate too.
$primary->safe_psql($db, 'REINDEX INDEX CONCURRENTLY items_l2');
$primary->safe_psql($db, 'REINDEX INDEX items_cos');
$primary->safe_psql($db, 'REINDEX INDEX CONCURRENTLY rq_l2');
$primary->safe_psql($db, 'REINDEX INDEX rq_empty_cos');
$primary->safe_psql($db, qq{INSERT INTO items SELECT i, $vec_i FROM generate_series(6001, 6100) i});
$primary->safe_psql($db, qq{INSERT INTO rq SELECT i, $vec_i FROM generate_series(6001, 6100) i});
$primary->safe_psql($db, qq{INSERT INTO rq_empty SELECT i, $vec_i FROM generate_series(6001, 6100) i});
compare('after REINDEX (CONCURRENTLY) and more inserts');

# VACUUM's graph repair, the freeing of slots, the moving of the last
# pages' nodes into them, the truncation of the pages emptied, and the
# reuse of slots by inserts replay on the standby.  The rows nearest the
# table's centroid are deleted, and with them the build's entry point (the
# node nearest the centroid): VACUUM rewrites the neighbour lists that lead
# to them and frees their slots, but keeps the entry point, a deleted node,
# as the graph's start, then fills the slots from the last pages and cuts
# those off; inserts then take the slots left, and another round of
# deletes, VACUUM and inserts follows.  After each step the standby has
# the primary's entry point (read from the meta page with pageinspect),
# its node counts by omendb_check (which passes on both, with the heap
# check), and returns the same top 10 for every query.  The same steps
# run on an SQ8 index (churn_l2) and on a RaBitQ one with 2-bit codes
# (rchurn_l2), each on a table of its own.
my %churn = (churn => 'churn_l2', rchurn => 'rchurn_l2');
$primary->safe_psql(
	$db, qq{
CREATE TABLE churn (id int PRIMARY KEY, v vector(32)) WITH (autovacuum_enabled = off);
INSERT INTO churn SELECT i, $vec_i FROM generate_series(1, 3000) i;
CREATE INDEX churn_l2 ON churn USING omendb (v);
CREATE TABLE rchurn (id int PRIMARY KEY, v vector(32)) WITH (autovacuum_enabled = off);
INSERT INTO rchurn SELECT i, $vec_i FROM generate_series(1, 3000) i;
CREATE INDEX rchurn_l2 ON rchurn USING omendb (v) WITH (quantizer = 'rabitq', bits = 2);
});
# the meta page's entry_node: the 4 bytes after the page header (24 bytes)
# and the 52 bytes of OmenMetaPageData before it
sub entry_sql
{
	my ($index) = @_;
	return qq{SELECT encode(substr(get_raw_page('$index', 0), 77, 4), 'hex')};
}

sub churn_sql
{
	my ($table) = @_;
	return qq{
SET enable_seqscan = off;
SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM $table t ORDER BY t.v <-> q.v LIMIT 10) s)
FROM queries q ORDER BY q.qid;
};
}

sub compare_churn
{
	my ($table, $what, $live, $max_free) = @_;
	my $index = $churn{$table};
	$what = "$index, $what";
	my $counts_sql =
	  "SELECT nodes, live_nodes, deleted_nodes, free_nodes FROM omendb_check('$index', true)";
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	# (an error, as the result, fails the comparison)
	my @counts = map {
		my ($ret, $out, $err) = $_->psql($db, $counts_sql);
		$ret == 0 ? $out : $err
	} ($primary, $standby);
	my ($n, $l, $d, $f) = split /\|/, $counts[0];
	ok(defined $f && $l == $live && $d == 1 && $n == $l + $d + $f && $f <= $max_free,
		"$what: omendb_check passes on the primary, with $live live nodes, the entry point deleted and at most $max_free free slots")
	  or diag("nodes|live|deleted|free: $counts[0]");
	is($counts[1], $counts[0],
		"$what: omendb_check passes on the standby, with the primary's counts");
	is($standby->safe_psql($db, entry_sql($index)), $primary->safe_psql($db, entry_sql($index)),
		"$what: the standby has the primary's entry point");
	# (the first pass's kills replayed first, as in compare)
	$primary->safe_psql($db, churn_sql($table));
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	my $top = $primary->safe_psql($db, churn_sql($table));
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	unlike($top, qr/\|$/m, "$what: every query has results on the primary");
	is($standby->safe_psql($db, churn_sql($table)), $top,
		"$what: the standby returns the same top 10 as the primary");
}

for my $table (sort keys %churn)
{
	my $index = $churn{$table};
	my $entry0 = $primary->safe_psql($db, entry_sql($index));
	$primary->safe_psql(
		$db, qq{
DELETE FROM $table WHERE id IN
	(SELECT id FROM $table ORDER BY v <-> (SELECT avg(v) FROM $table) LIMIT 600);
VACUUM $table;
});
	# (600 slots freed, the last pages' nodes moved into them, and the
	# pages emptied cut off: fewer free slots left than a page holds)
	compare_churn($table, 'after VACUUM of the 600 rows nearest the centroid', 2400, 100);
	is($primary->safe_psql($db, entry_sql($index)), $entry0,
		"$index: VACUUM keeps the entry point, the one node left deleted, as the graph's start");
	$primary->safe_psql($db,
		qq{INSERT INTO $table SELECT i, $vec_i FROM generate_series(10001, 10400) i});
	compare_churn($table, 'after 400 inserts, into the free slots first', 2800, 0);
	$primary->safe_psql(
		$db, qq{
DELETE FROM $table WHERE id % 5 = 0;
VACUUM $table;
INSERT INTO $table SELECT i, $vec_i FROM generate_series(10401, 10900) i;
});
	my $left = $primary->safe_psql($db, "SELECT count(*) FROM $table");
	compare_churn($table, 'after another round of deletes, VACUUM and inserts',
		$left, 100);
}

# The distance of each row of conflict to the query $q, by id.
sub distances
{
	my ($q) = @_;
	my %dist = map { split /\|/ }
	  split /\n/, $standby->safe_psql($db, "SELECT id, v <-> $q FROM conflict");
	return \%dist;
}

# Whether the ids of $got are those of $want, the rows in order of
# distance with ties by id, in non-decreasing distance: rows at the same
# distance may come out in any order.
sub in_order_but_ties
{
	my ($got, $want, $dist) = @_;
	my @g = split /,/, $got;
	for my $i (1 .. $#g)
	{
		return 0 if $dist->{ $g[$i] } < $dist->{ $g[ $i - 1 ] };
	}
	return join(',', sort { $dist->{$a} <=> $dist->{$b} || $a <=> $b } @g) eq $want;
}

# A cursor over an index scan on the standby while the primary deletes and
# VACUUMs what its snapshot still sees.  Without hot_standby_feedback the
# replay of the cleanup conflicts with the snapshot: the standby cancels
# the query cleanly (40001), or the cursor returns exactly the rows of its
# snapshot, in order.  With hot_standby_feedback the primary keeps those
# rows, and the cursor returns them all.
sub cursor_during_cleanup
{
	my ($feedback, $from) = @_;
	my $what = "cursor on the standby, hot_standby_feedback $feedback";
	$standby->append_conf('postgresql.conf',
		"hot_standby_feedback = $feedback\nmax_standby_streaming_delay = 0");
	$standby->reload;
	$primary->safe_psql($db, qq{
CREATE TABLE conflict (id int PRIMARY KEY, v vector(32));
INSERT INTO conflict SELECT i, $vec_i FROM generate_series($from, $from + 1999) i;
CREATE INDEX conflict_l2 ON conflict USING omendb (v);
});
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	my $q = vec_sql(7.5) . "::vector";
	my $want = $standby->safe_psql($db,
		"SELECT string_agg(id::text, ',' ORDER BY v <-> $q, id) FROM conflict");
	my $dist = distances($q);

	my $reader = $standby->background_psql($db, on_error_stop => 0);
	$reader->query_safe('SET omendb.search_list_size = 10000');
	$reader->query_safe('SET enable_seqscan = off');
	$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$reader->query_safe("DECLARE c CURSOR FOR SELECT id FROM conflict ORDER BY v <-> $q");
	my $first = $reader->query_safe('FETCH 100 FROM c');
	# feedback reaches the primary at least every wal_receiver_status_interval
	sleep(1) if $feedback eq 'on';
	$primary->safe_psql($db, 'DELETE FROM conflict WHERE id % 2 = 0');
	$primary->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) conflict');
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'))
	  if $feedback eq 'on';
	# A session idle in its transaction is terminated by the conflict, so
	# psql may be gone: its error, or the standby's log, says why.
	my $log_from = -s $standby->logfile;
	my ($rest, $ret) = eval { $reader->query('FETCH ALL FROM c') };
	$ret = 1 unless defined $ret;
	my $err = ($reader->{stderr} // '') . slurp_file($standby->logfile, $log_from);
	eval { $reader->quit };

	my $got = join(',', split(/\n/, $first), ($ret == 0 ? split(/\n/, $rest) : ()));
	if ($ret != 0)
	{
		ok($feedback eq 'off', "$what: only a standby without feedback cancels the cursor");
		like($err, qr/conflict with recovery/, "$what: the cursor is cancelled cleanly")
		  or diag($err);
		unlike($err, qr/PANIC|terminated by signal/, "$what: nothing crashed");
	}
	else
	{
		ok(in_order_but_ties($got, $want, $dist),
			"$what: the cursor returns exactly its snapshot's rows, in order")
		  or diag("got: $got\nwant (ties by id): $want");
	}
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	$primary->safe_psql($db, 'DROP TABLE conflict');
}
cursor_during_cleanup('off', 10001);
cursor_during_cleanup('on', 20001);

# An index scan running on the standby (a statement in progress, not an
# idle cursor) while the primary deletes and VACUUMs rows its snapshot
# still sees, with a short max_standby_streaming_delay.  The scan stops
# after its 100th row until the standby has replayed a marker the primary
# writes after its VACUUM, so the replay of the cleanup reaches the
# standby while the scan is still running, whatever the machine's speed.
# Without hot_standby_feedback the cleanup removes those rows and its
# replay conflicts with the scan: the standby cancels it with the standard
# recovery-conflict error (SQLSTATE 40001) and it returns no row.  With
# feedback the primary keeps the rows, nothing conflicts, and the scan
# returns exactly its snapshot's rows, in order.
$primary->safe_psql(
	$db, q{
CREATE FUNCTION scan_pause(id int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	n int := coalesce(nullif(current_setting('scan_pause.rows', true), ''), '0')::int + 1;
BEGIN
	PERFORM set_config('scan_pause.rows', n::text, false);
	IF n = 100 THEN
		-- each statement of the loop takes a new snapshot: it sees the
		-- marker once the standby has replayed it
		WHILE NOT EXISTS (SELECT FROM cleanup_marker) LOOP
			PERFORM pg_sleep(0.01);
		END LOOP;
	END IF;
	RETURN id;
END
$$;
});

sub scan_during_cleanup
{
	my ($feedback, $from) = @_;
	my $what = "index scan running on the standby, hot_standby_feedback $feedback";
	$standby->append_conf('postgresql.conf',
		"hot_standby_feedback = $feedback\nmax_standby_streaming_delay = 100ms\n"
		  . "log_error_verbosity = verbose");
	$standby->reload;
	# The primary holds back cleanup for the standby exactly when feedback
	# is on: the walsender shows the standby's xmin.
	$primary->poll_query_until($db,
		'SELECT backend_xmin IS ' . ($feedback eq 'on' ? 'NOT ' : '') . 'NULL FROM pg_stat_replication')
	  or die "the primary did not see hot_standby_feedback $feedback";
	$primary->safe_psql(
		$db, qq{
CREATE TABLE conflict (id int PRIMARY KEY, v vector(32)) WITH (autovacuum_enabled = off);
INSERT INTO conflict SELECT i, $vec_i FROM generate_series($from, $from + 1999) i;
CREATE INDEX conflict_l2 ON conflict USING omendb (v);
CREATE TABLE cleanup_marker ();
});
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	my $q = vec_sql(9.5) . "::vector";
	my $want = $standby->safe_psql($db,
		"SELECT string_agg(id::text, ',' ORDER BY v <-> $q, id) FROM conflict");
	my $dist = distances($q);

	my $log_from = -s $standby->logfile;
	my $reader = $standby->background_psql($db, on_error_stop => 0);
	$reader->query_safe('SET omendb.search_list_size = 10000');
	$reader->query_safe('SET enable_seqscan = off');
	$reader->query_until(
		qr/started/, qq{\\echo started
SELECT string_agg(scan_pause(id)::text, ',') FROM (SELECT id FROM conflict ORDER BY v <-> $q) s;
});
	$standby->poll_query_until($db,
		"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%scan_pause(id)%')"
	) or die "the scan did not reach its pause";

	$primary->safe_psql($db, 'DELETE FROM conflict WHERE id % 2 = 0');
	$primary->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) conflict');
	$primary->safe_psql($db, 'INSERT INTO cleanup_marker DEFAULT VALUES');
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

	# The scan's outcome: its rows, or its error.  After cancelling the
	# statement the standby may also end the session, if the conflict was
	# signalled again before the backend left its transaction, so psql
	# may be gone; the standby's log has the statement's error either way.
	$reader->{stderr} = '';
	my $got = eval { $reader->query('') } // $reader->{stdout};
	$got =~ s/\n?background_psql: QUERY_SEPARATOR \d+:\n?//g;
	my $err = $reader->{stderr};
	$err =~ s/\n?background_psql: QUERY_SEPARATOR \d+:\n?//g;
	eval { $reader->quit };
	my $log = slurp_file($standby->logfile, $log_from);
	if ($feedback eq 'off')
	{
		like(
			$log,
			qr/ERROR:  40001: canceling statement due to conflict with recovery\n(?:.*\n)*?.*STATEMENT:  SELECT string_agg\(scan_pause/,
			"$what: the scan is cancelled with the recovery-conflict error, SQLSTATE 40001")
		  or diag($log);
		is($got, '', "$what: the cancelled scan returns no row");
	}
	else
	{
		is($err, '', "$what: the scan completes without an error");
		ok(in_order_but_ties($got, $want, $dist),
			"$what: the scan returns exactly its snapshot's rows, in order")
		  or diag("got: $got\nwant (ties by id): $want");
	}
	unlike($log, qr/PANIC|terminated by signal/, "$what: nothing crashed");
	$primary->safe_psql($db, 'DROP TABLE conflict, cleanup_marker');
}
scan_during_cleanup('off', 30001);
scan_during_cleanup('on', 40001);

# Every replayed record passed the consistency check: the standby is
# still running and has logged no inconsistent page.
ok($standby->safe_psql($db, 'SELECT pg_is_in_recovery()') eq 't',
	'standby still in recovery (its startup process did not fail)');
my $log = slurp_file($standby->logfile);
unlike($log, qr/inconsistent page found/,
	'wal_consistency_checking found no inconsistent page on the standby');
unlike($log, qr/PANIC|terminated by signal/, 'no PANIC or crash on the standby');

# Promoted, the standby's indexes take inserts and find them.
$standby->promote;
$standby->poll_query_until($db, 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
$standby->safe_psql($db, qq{INSERT INTO items SELECT i, $vec_i FROM generate_series(7001, 7050) i});
$standby->safe_psql($db, qq{INSERT INTO items_empty SELECT i, $vec_i FROM generate_series(7001, 7050) i});
$standby->safe_psql($db, qq{INSERT INTO rq SELECT i, $vec_i FROM generate_series(7001, 7050) i});
$standby->safe_psql($db, qq{INSERT INTO rq_empty SELECT i, $vec_i FROM generate_series(7001, 7050) i});
# (by inner product a row need not be its own nearest: the other indexes)
for my $c (['items', '<->', 'items_l2'], ['rq', '<->', 'rq_l2'], ['rq_empty', '<=>', 'rq_empty_cos'])
{
	my ($table, $op, $index) = @$c;
	is( $standby->safe_psql(
			$db, qq{
SET enable_seqscan = off;
SELECT count(*) FROM $table t WHERE t.id BETWEEN 7001 AND 7050
  AND t.id = (SELECT u.id FROM $table u ORDER BY u.v $op t.v LIMIT 1);
}),
		50,
		"after promotion, $index finds each of the 50 new rows by its own vector");
}
for my $index (qw(items_l2 items_empty_ip rq_l2 rq_empty_cos))
{
	omendb_check_ok($standby, $db, $index,
		"after promotion and inserts, omendb_check of $index passes with the heap check",
		heapallindexed => 1);
}
uses_indexes($standby, 'promoted standby');

$standby->stop;
$primary->stop;
done_testing();
