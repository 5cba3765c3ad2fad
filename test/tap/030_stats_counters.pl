# TAP: the meta page's node counters, which omendb_index_stats reports,
# stay exact.
#
#   - through inserts, deletes, scans that kill the nodes of dead rows,
#     VACUUM and inserts into free slots, omendb_index_stats counts the
#     node slots, live, deleted and free nodes that omendb_check counts by
#     reading every node, on the primary and on a streaming standby that
#     replays the counters with the nodes (under wal_consistency_checking
#     = 'generic');
#   - after each of three crashes (SIGKILL to every server process) under
#     a load of inserts, deletes, scans and VACUUMs, recovery leaves the
#     counters agreeing with the nodes, on the primary and the standby;
#   - a meta page written before the counters existed (pd_lower short of
#     them, the bytes zero), or even before code_dims, as the pages were
#     written then: the index works and passes omendb_check, the stats
#     report the node slots but no counts (NULL) and no VACUUM figures
#     while inserts take free slots and scans kill nodes, and the next
#     VACUUM counts every node page: then the counts are right, the meta
#     page has the current layout (code_dims too), the standby agrees;
#   - counters that disagree with the nodes are damage that omendb_check
#     reports (ERRCODE_INDEX_CORRUPTED), and REINDEX repairs.
#
# Checksums are off (initdb's default before PostgreSQL 18, asked for from
# 18 on), so the pages can be changed freely.
# The offsets follow src/omendb.h and PostgreSQL's page layout on a
# little-endian machine.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

skip_unless_little_endian();

# The kill delays are random; the seed is printed so that a failing run's
# schedule can be repeated (the timing of the load cannot).
my $seed = $ENV{OMENDB_CRASH_SEED} // 20303;
srand($seed);
note("kill delays from seed $seed (OMENDB_CRASH_SEED)");
note('child subreaper: ' . (become_subreaper() ? 'yes' : 'no'));

my $primary = omen_node(
	'primary',
	init => { allows_streaming => 1, no_data_checksums => 1 },
	conf => [
		"wal_consistency_checking = 'generic'", 'autovacuum = off', 'max_connections = 30',
		# the standby replays behind the load; keep what it has yet to read
		'wal_keep_size = 2GB'
	]);
my $db = 'postgres';
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# OmenMetaPageData right after the 24-byte page header ($PD_LOWER and
# $META_END come from OmenTest).
my %META = (
	code_dims => 24 + 68,
	deleted_nodes => 24 + 72,
	free_nodes => 24 + 76,
	counted_until => 24 + 80);

$primary->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
-- 16 pseudo-random elements in [0, 1) from the id: distinct for distinct ids
CREATE FUNCTION vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
\$\$ SELECT array_agg((hashint4(id * 16 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
   FROM generate_series(0, 15) j \$\$;
CREATE TABLE items (id int PRIMARY KEY, v vector(16) NOT NULL) WITH (autovacuum_enabled = off);
CREATE SEQUENCE ids START 4001;
INSERT INTO items SELECT i, vec(i) FROM generate_series(1, 4000) i;
CREATE INDEX items_l2 ON items USING omendb (v);
CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops) WITH (graph_degree = 16);
});

# ------------------------------------------------------------- checks

# "nodes live deleted free" as omendb_index_stats reports them (NULL for
# counts it does not know), and as omendb_check counts them.
sub stats_counts
{
	my ($node, $index) = @_;
	return $node->safe_psql($db,
		"SELECT concat_ws(' ', nodes, coalesce(live_nodes::text, 'NULL'), "
		  . "coalesce(deleted_nodes::text, 'NULL'), coalesce(free_nodes::text, 'NULL')) "
		  . "FROM omendb_index_stats('$index')");
}

sub check_counts
{
	my ($node, $index) = @_;
	return $node->safe_psql($db,
		"SELECT concat_ws(' ', nodes, live_nodes, deleted_nodes, free_nodes) FROM omendb_check('$index', true)");
}

sub agree
{
	my ($node, $index, $name) = @_;
	my $c = check_counts($node, $index);
	is(stats_counts($node, $index), $c, "$name: $index: the stats count what omendb_check counts ($c)");
	return $c;
}

sub catch_up
{
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
}

# An exhaustive ordered scan meets every row; the executor reports each
# dead one it fetches, and the scan kills its node (the heap pages are
# full, so fetching a dead row prunes its page first: see "Kills" in
# README.omendb).
my $kill_scan = q{SET enable_seqscan = off; SET omendb.search_list_size = 100000;
SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> vec(0)) s;};

# ------------------------------------------------- the counts, step by step

agree($primary, $_, 'after the build') for qw(items_l2 items_cos);

$primary->safe_psql($db,
	"INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, 300)) s");
agree($primary, $_, 'after inserts') for qw(items_l2 items_cos);

$primary->safe_psql($db, 'DELETE FROM items WHERE id % 5 = 0');
$primary->safe_psql($db, $kill_scan);
my $killed = agree($primary, 'items_l2', 'after a scan killed nodes of deleted rows');
my ($deleted) = $killed =~ /^\d+ \d+ (\d+) /;
cmp_ok($deleted, '>', 0, "the scan killed nodes ($deleted of 860 deleted rows)");
agree($primary, 'items_cos', 'after a scan of the other index');

$primary->safe_psql($db, 'VACUUM items');
my $vacuumed = agree($primary, 'items_l2', 'after VACUUM');
like($vacuumed, qr/^\d+ 3440 [01] \d+$/, 'VACUUM freed every deleted node but perhaps the entry point');
agree($primary, 'items_cos', 'after VACUUM');
is( $primary->safe_psql($db,
		"SELECT vacuum_deleted, vacuum_freed >= 859 FROM omendb_index_stats('items_l2')"),
	"860|t", 'the stats record what the VACUUM met (the 860 deleted nodes, killed or not) and freed');

$primary->safe_psql($db,
	"INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, 500)) s");
my $reused = agree($primary, 'items_l2', 'after inserts into free slots');
# (VACUUM cut off the pages it emptied: fewer slots are free than rows come)
my ($vnodes, $vfree) = (split / /, $vacuumed)[ 0, 3 ];
is((split / /, $reused)[0], $vnodes + ($vfree >= 500 ? 0 : 500 - $vfree),
	'the inserts took the free slots first, then new ones');
agree($primary, 'items_cos', 'after inserts into free slots');

catch_up();
for my $index (qw(items_l2 items_cos))
{
	is(stats_counts($standby, $index), stats_counts($primary, $index),
		"$index: the standby's stats are the primary's");
	agree($standby, $index, 'on the standby');
}

# ------------------------------------------------------------ the crashes

my $dir = PostgreSQL::Test::Utils::tempdir();
my %scripts;

sub script
{
	my ($load, $sql) = @_;
	my $path = "$dir/$load.sql";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $sql;
	close($fh);
	$scripts{$load} = $path;
}
script('insert', q{
INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, 4)) s;
});
script('delete', q{
\set r random(1, 1000000000)
DELETE FROM items WHERE id IN
	(SELECT id FROM items WHERE id >= 1 + :r % (SELECT last_value FROM ids) ORDER BY id LIMIT 6);
});
script('vacuum', "VACUUM items;\n");
script('scan', q{
\set id random(1, 100000)
SET enable_seqscan = off;
SELECT id FROM items ORDER BY v <-> vec(:id) LIMIT 50;
});

sub start_load
{
	my ($load, $clients, @opts) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[
			'pgbench', '--no-vacuum', "--client=$clients", @opts, '--time=600',
			'-f', $scripts{$load}, $primary->connstr($db)
		],
		'>', \$out, '2>', \$err);
}

for my $round (1 .. 3)
{
	my $r = "crash $round";
	my $logpos = -s $primary->logfile;
	my $from = $primary->safe_psql($db, 'SELECT last_value FROM ids');
	# fewer rows deleted than inserted, so that the table keeps rows
	my @load = (
		start_load('insert', 2),
		start_load('delete', 1, '--rate=40'),
		start_load('vacuum', 1),
		start_load('scan', 2, '--rate=100'));

	# a moment of the load: after a few hundred more inserts
	my $until = $from + 200 + int(rand(600));
	$primary->poll_query_until($db, "SELECT last_value >= $until FROM ids")
	  or die "$r: the load did not insert";
	crash_node($primary, 1, @load);
	note("$r: SIGKILL to the server after about " . ($until - $from) . ' rows inserted');

	$primary->start;
	my $log = slurp_file($primary->logfile, $logpos);
	like($log, qr/database system was interrupted|not properly shut down/,
		"$r: the server went through crash recovery");
	my @errors =
	  grep { /\b(PANIC|TRAP)\b|inconsistent page|terminated by signal|corrupted/ } split(/\n/, $log);
	is(scalar(@errors), 0, "$r: no damage reported under the load or in recovery")
	  or diag(join("\n", @errors[ 0 .. ($#errors < 19 ? $#errors : 19) ]));
	agree($primary, $_, "$r, after recovery") for qw(items_l2 items_cos);
}

# A VACUUM after the crashes finishes what a killed one left.
$primary->safe_psql($db, 'VACUUM items');
agree($primary, $_, 'after the crashes and a VACUUM') for qw(items_l2 items_cos);
catch_up();
for my $index (qw(items_l2 items_cos))
{
	is(stats_counts($standby, $index), stats_counts($primary, $index),
		"$index: after the crashes, the standby's stats are the primary's");
	agree($standby, $index, 'after the crashes, on the standby');
}

# ------------------------------------------------ meta pages without them

$primary->safe_psql(
	$db, qq{
CREATE TABLE old (id int PRIMARY KEY, v vector(16) NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO old SELECT i, vec(i) FROM generate_series(1, 3000) i;
CREATE INDEX old_l2 ON old USING omendb (v);
CREATE INDEX old_ip ON old USING omendb (v vector_ip_ops);
DELETE FROM old WHERE id % 4 = 0;
VACUUM old;
});

sub index_file
{
	my ($index) = @_;
	return $primary->data_dir . '/'
	  . $primary->safe_psql($db, "SELECT pg_relation_filepath('$index')");
}

# Cut the meta pages back as they were written before: old_l2's to end
# before the counters, old_ip's before code_dims; the bytes after zero, as
# generic xlog leaves the hole.
my %end = (old_l2 => $META{deleted_nodes}, old_ip => $META{code_dims});
my %path = map { $_ => index_file($_) } keys %end;
$primary->stop;
for my $index (keys %end)
{
	my $bytes = read_file($path{$index});
	substr($bytes, $PD_LOWER, 2) = pack('S', $end{$index});
	substr($bytes, $end{$index}, $META_END - $end{$index}) = "\0" x ($META_END - $end{$index});
	write_file($path{$index}, $bytes);
}
$primary->start;

my $by_index = 'SET enable_seqscan = off; SET omendb.search_list_size = 100000;';
my $by_seqscan = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
my %order = (old_l2 => 'v <-> vec(0)', old_ip => 'v <#> vec(0)');
for my $index (sort keys %end)
{
	my $sql = "SELECT string_agg(id::text, ',') FROM (SELECT id FROM old ORDER BY $order{$index} LIMIT 20) s";
	is($primary->safe_psql($db, "$by_index $sql"), $primary->safe_psql($db, "$by_seqscan $sql"),
		"$index, a meta page without the counters: the index scan answers as a sequential scan does");
	omendb_check_ok($primary, $db, $index, "$index, a meta page without the counters: omendb_check passes",
		heapallindexed => 1, live_nodes => 2250);
	like(stats_counts($primary, $index), qr/^\d+ NULL NULL NULL$/,
		"$index: the stats report the node slots, but no counts");
	is($primary->safe_psql($db,
			"SELECT num_nulls(vacuum_deleted, vacuum_freed, vacuum_repaired, vacuum_linked) = 4 "
			  . "FROM omendb_index_stats('$index')"),
		't', "$index: and no VACUUM figures");
}

# Inserts into free slots, deletes and kills, none of them counted.
$primary->safe_psql($db, "INSERT INTO old SELECT i, vec(i) FROM generate_series(5001, 5400) i");
$primary->safe_psql($db, 'DELETE FROM old WHERE id % 7 = 0');
(my $old_kill = $kill_scan) =~ s/FROM items/FROM old/;
$primary->safe_psql($db, $old_kill);
for my $index (sort keys %end)
{
	omendb_check_ok($primary, $db, $index, "$index: after inserts, deletes and kills, omendb_check passes",
		heapallindexed => 1);
	like(stats_counts($primary, $index), qr/^\d+ NULL NULL NULL$/,
		"$index: after inserts, deletes and kills, still no counts");
}

# VACUUM counts the nodes, and the counts are right from then on.
$primary->safe_psql($db, 'VACUUM old');
for my $index (sort keys %end)
{
	agree($primary, $index, 'a meta page without the counters, after VACUUM');
	is($primary->safe_psql($db,
			"SELECT vacuum_deleted IS NOT NULL AND vacuum_freed > 0 FROM omendb_index_stats('$index')"),
		't', "$index: the stats have the VACUUM's figures");
}
$primary->safe_psql($db, "INSERT INTO old SELECT i, vec(i) FROM generate_series(6001, 6200) i");
$primary->safe_psql($db, 'DELETE FROM old WHERE id % 11 = 0');
$primary->safe_psql($db, $old_kill);
agree($primary, $_, 'counted since, after inserts, deletes and kills') for sort keys %end;
catch_up();
agree($standby, $_, 'counted since, on the standby') for sort keys %end;

$primary->stop;
for my $index (sort keys %end)
{
	my $bytes = read_file($path{$index});
	is(u16($bytes, $PD_LOWER), $META_END, "$index: VACUUM gave the meta page the current layout");
	is(u32($bytes, $META{counted_until}), 0xFFFFFFFF, "$index: which counts every node page");
	is(u32($bytes, $META{code_dims}), $index eq 'old_ip' ? 17 : 16,
		"$index: with the code dimensions the quantizer gives");
}

# ------------------------------------------------ counters that disagree

$primary->start;
my $items_path = index_file('items_l2');
$primary->stop;
my $bytes = read_file($items_path);
substr($bytes, $META{free_nodes}, 4) = pack('L', u32($bytes, $META{free_nodes}) + 3);
write_file($items_path, $bytes);
$primary->start;
my ($ret, $out, $err) = $primary->psql($db, "\\set VERBOSITY verbose\nSELECT * FROM omendb_check('items_l2')");
like(
	$err,
	qr/ERROR:\s+XX002: index "items_l2" is corrupted.*DETAIL:\s+Block 0: meta page counts \d+ deleted nodes and \d+ free slots, but the node pages hold \d+ and \d+\./s,
	'omendb_check reports free-slot counts that disagree with the node pages');
$primary->safe_psql($db, 'REINDEX INDEX items_l2');
agree($primary, 'items_l2', 'after REINDEX');

done_testing();
