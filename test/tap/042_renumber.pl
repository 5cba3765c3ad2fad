# TAP: VACUUM's renumbering (src/README.omendb, "Renumbering") keeps every
# row findable while it moves every node, survives a crash at any moment,
# and replays on a standby.
#
# A table of 3,000 16-d rows spread over a cube by a hash of their ids,
# inserted into an index created on the empty table, so that rows
# inserted together lie apart and a breadth-first layout brings each
# node's neighbours onto far fewer pages.  The primary checks every
# generic record's replay (wal_consistency_checking = 'generic'), and a
# streaming standby follows it.
#
#   - The first VACUUM renumbers (at the default gain): the index keeps its
#     size, a search pins less than two thirds of the pages it did, and
#     omendb_check passes with the heap check.
#   - While a background session runs rounds of inserting rows and VACUUM
#     with omendb.renumber_min_gain near 0 (so that each renumbers), this
#     session runs statements that each compare, on one snapshot, the
#     table's rows with what index scans return: every live node in
#     physical order (a NULL query, a pass down the node pages, which
#     renumbering's moves to later pages could outrun) and an exhaustive
#     search in distance order.  No row is returned twice or missed, and
#     omendb_check with the heap check, run meanwhile, passes.  The
#     standby, caught up, answers as the primary does, and replayed every
#     renumbering without an inconsistent page.
#   - Twice, the server is killed with SIGKILL (the postmaster and every
#     child at once) while such a VACUUM moves the nodes to appended pages:
#     once the index has grown by 10 pages, then by half its size.  After
#     each
#     restart recovery found no inconsistent page, omendb_check passes
#     with the heap check, and every row is among the first 3 its own
#     vector finds at the default search list; at least one kill left old
#     slots of moved nodes not yet freed.
#   - One VACUUM then finishes what the killed ones left: no deleted node
#     left but the entry point, the index within a page of its size after
#     the first renumbering.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use OmenTest;

my $NROWS = 3000;
my $ROUNDS = 2;
my $KILLS = 2;
my $db = 'postgres';

# row $i: three coordinates spread over [0, 128) by a hash of $i, the
# other 13 small, so that rows inserted one after the other lie apart
sub spread_vec_sql
{
	my ($i) = @_;
	return "((ARRAY[(hashint4($i) & 1023) / 8.0, (hashint4($i + 77777) & 1023) / 8.0, "
	  . "(hashint4($i + 555) & 1023) / 8.0]::float8[] || (SELECT array_agg(sin($i * 0.37 * j) * 0.5) "
	  . "FROM generate_series(1, 13) j))::real[]::vector)";
}

my $primary = omen_node(
	'primary',
	init => { allows_streaming => 1 },
	conf => [ 'autovacuum = off', "wal_consistency_checking = 'generic'" ]);
$primary->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16));
CREATE INDEX items_v ON items USING omendb (v);
INSERT INTO items SELECT i, @{[ spread_vec_sql('i') ]} FROM generate_series(1, $NROWS) i;
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# pages pinned a query: 133 rows' searches for their own 10 nearest
my $pages_sql = q{
SELECT omendb_scan_stats_reset();
SELECT count(*) FROM items t WHERE t.id % 30 = 7 AND t.id IN
	(SELECT u.id FROM items u ORDER BY u.v <-> t.v LIMIT 10);
SELECT round(pages_pinned::numeric / scans) FROM omendb_scan_stats() WHERE scope = 'backend'};
sub pages_a_query
{
	my @lines = split /\n/,
	  $primary->safe_psql($db, "SET enable_seqscan = off;\n$pages_sql");
	return $lines[-1];
}

# ---------------------------------------------------- the first VACUUM

my $bytes_before = $primary->safe_psql($db, "SELECT pg_relation_size('items_v')");
my $pages_before = pages_a_query();
my ($ret, $out, $err) = $primary->psql($db,
	"SET client_min_messages = debug2;\nVACUUM items;");
like($err, qr/index "items_v": renumbered [1-9][0-9]* of [1-9][0-9]* nodes breadth-first/,
	'the first VACUUM renumbers the index built empty');
my $bytes = $primary->safe_psql($db, "SELECT pg_relation_size('items_v')");
my $pages_after = pages_a_query();
cmp_ok($bytes, '<=', $bytes_before + 8192,
	"the index keeps its size ($bytes bytes, $bytes_before before)");
cmp_ok($pages_after, '<', 2 * $pages_before / 3,
	"a search pins less than two thirds of the pages ($pages_after a query, $pages_before before)");
omendb_check_ok($primary, $db, 'items_v', 'after renumbering omendb_check passes, with the heap check',
	heapallindexed => 1, live_nodes => $NROWS, reachable => 1);
my $renumbered_bytes = $bytes;

# ----------------------------------- scans while VACUUM renumbers

# each round's new rows, in cluster order again, then a VACUUM that
# renumbers whatever the gain
my $next_id = $NROWS;
sub round_sql
{
	my ($n) = @_;
	my ($from, $to) = ($next_id + 1, $next_id + $n);
	$next_id = $to;
	return "INSERT INTO items SELECT i, @{[ spread_vec_sql('i') ]} FROM generate_series($from, $to) i;\n"
	  . "VACUUM items;\n";
}
my $rounds_sql = "SET client_min_messages = debug2;\nSET omendb.renumber_min_gain = 0.01;\n"
  . join('', map { round_sql(100) } (1 .. $ROUNDS)) . "\\q\n";
my ($bg_out, $bg_err) = ('', '');
my $bg = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $primary->connstr($db) ],
	'<', \$rounds_sql, '>', \$bg_out, '2>', \$bg_err);

my ($checks, @bad) = scans_during($primary, $db, $bg);
ok($bg->finish, 'the rounds of inserts and VACUUM ran') or diag($bg_err);
my @renumbered = $bg_err =~ /renumbered ([0-9]+) of [0-9]+ nodes/g;
is(scalar(grep { $_ > 0 } @renumbered), $ROUNDS, 'each VACUUM of the rounds renumbered the index')
  or diag($bg_err);
note("$checks statements compared the index scans with the table during $ROUNDS renumberings");
cmp_ok($checks, '>=', $ROUNDS, 'scans ran throughout the rounds');
ok(!@bad, 'every scan returned each row of its snapshot exactly once')
  or diag("rows, physical order (all, distinct), distance order (all, distinct):\n"
	  . join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));

# omendb_check with the heap check while renumbering moves rows to later
# pages: read up, a row may be met live in its old slot and again in its
# copy, which is one row moved, not two nodes of it
$rounds_sql = "SET omendb.renumber_min_gain = 0.01;\n"
  . join('', map { round_sql(100) } (1 .. $ROUNDS)) . "\\q\n";
($bg_out, $bg_err) = ('', '');
$bg = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $primary->connstr($db) ],
	'<', \$rounds_sql, '>', \$bg_out, '2>', \$bg_err);
my ($nchecks, @check_errors) = (0);
while ($bg->pumpable)
{
	my ($r, $o, $e) = $primary->psql($db, "SELECT count(*) FROM omendb_check('items_v', true)");
	push @check_errors, $e if $r != 0;
	$nchecks++;
	$bg->pump_nb;
}
ok($bg->finish, 'more rounds of inserts and renumbering VACUUM ran') or diag($bg_err);
note("$nchecks runs of omendb_check during $ROUNDS renumberings");
is(scalar(@check_errors), 0, 'omendb_check with the heap check passed while VACUUM renumbered')
  or diag(join("\n", @check_errors[ 0 .. ($#check_errors < 4 ? $#check_errors : 4) ]));

# ----------------------------------------------------------- the standby

$primary->wait_for_catchup($standby);
my $answers_sql = q{
SET enable_seqscan = off;
SELECT string_agg(a, ';' ORDER BY t.id) FROM items t,
	LATERAL (SELECT string_agg(u.id::text, ',') AS a FROM
			 (SELECT u.id FROM items u ORDER BY u.v <-> t.v LIMIT 5) u) s
WHERE t.id % 200 = 3};
is($standby->safe_psql($db, $answers_sql), $primary->safe_psql($db, $answers_sql),
	'the standby answers as the primary does');
my $standby_log = slurp_file($standby->logfile);
unlike($standby_log, qr/inconsistent page|PANIC|TRAP/,
	'the standby replayed the renumberings without an inconsistent page');
$standby->stop;

# ------------------------------------------- crashes while it renumbers

# Kills while renumbering moves the nodes to appended pages: once the
# index has grown by 10 pages, then by half its size (or when the VACUUM
# ends, if it gets there first).
my $renumber_sql = "SET omendb.renumber_min_gain = 0.01;\nVACUUM items;\n\\q\n";
my $logpos = -s $primary->logfile;
my $left_moved = 0;
for my $kill (1 .. $KILLS)
{
	my ($o, $e, $sql) = ('', '', $renumber_sql);
	$primary->safe_psql($db, round_sql(100) =~ s/VACUUM items;\n//r);
	my $pages = $primary->safe_psql($db, "SELECT pg_relation_size('items_v') / 8192");
	my $target = $pages + ($kill == 1 ? 10 : int($pages / 2));
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $primary->connstr($db) ],
		'<', \$sql, '>', \$o, '2>', \$e);
	my $grown = $pages;
	while ($h->pumpable && $grown < $target)
	{
		$grown = $primary->safe_psql($db, "SELECT pg_relation_size('items_v') / 8192");
		$h->pump_nb;
	}
	my $delay = "at $grown pages of $target, from $pages";
	crash_node($primary, 1, $h);
	$primary->start;
	my $log = slurp_file($primary->logfile, $logpos);
	$logpos = -s $primary->logfile;
	my @errors = grep { /\b(PANIC|TRAP)\b|inconsistent page|terminated by signal/ } split(/\n/, $log);
	is(scalar(@errors), 0, "kill $kill ($delay): recovery found no inconsistent page")
	  or diag(join("\n", @errors[ 0 .. ($#errors < 19 ? $#errors : 19) ]));
	my $rows = $primary->safe_psql($db, 'SELECT count(*) FROM items');
	my $k = omendb_check_ok($primary, $db, 'items_v', "kill $kill: omendb_check passes, with the heap check",
		heapallindexed => 1);
	$left_moved++ if $k && $k->{deleted_nodes} > 1;
	my $missing = $primary->safe_psql(
		$db, q{
SET enable_seqscan = off;
SELECT count(*) FROM items t WHERE t.id NOT IN
	(SELECT u.id FROM items u ORDER BY u.v <-> (SELECT v FROM items WHERE id = t.id) LIMIT 3)});
	is($missing, 0, "kill $kill: each of the $rows rows is among the first 3 its own vector finds");
}

cmp_ok($left_moved, '>=', 1, 'a kill left nodes moved, their old slots not yet freed');

# ------------------------------------------------ after the crashes

$primary->safe_psql($db, 'VACUUM items');
my $c = omendb_check_ok($primary, $db, 'items_v',
	'after one more VACUUM omendb_check passes, with the heap check',
	heapallindexed => 1, reachable => 1);
cmp_ok($c->{deleted_nodes}, '<=', 1, 'no deleted node is left but the entry point') if $c;
my $rows = $primary->safe_psql($db, 'SELECT count(*) FROM items');
$bytes = $primary->safe_psql($db, "SELECT pg_relation_size('items_v')");
my $grown = ($rows - $NROWS) * $renumbered_bytes / $NROWS;
cmp_ok($bytes, '<=', $renumbered_bytes + $grown + 2 * 8192,
	"the index has the size of its rows ($bytes bytes for $rows rows; "
	  . "$renumbered_bytes for $NROWS after the first renumbering)");

$primary->stop;
done_testing();
