# TAP: VACUUM repairs the graph around the nodes of deleted rows and frees
# their slots, inserts reuse free slots, and all of it survives crashes.
#
# A table of 20,000 32-d pseudo-random vectors (distinct for distinct ids:
# a row's own vector finds that row alone, at distance 0) with an omendb
# index at the default settings.  Crash recovery replays every generic
# record with wal_consistency_checking = 'generic'.
#
# First a fifth of the rows are deleted and VACUUM runs undisturbed: the
# nodes of those rows become free slots, none is left deleted but the
# entry point (VACUUM keeps it as the graph's start when its row is
# deleted), every other node stays live, and the rows left find
# themselves.
#
# Then five rounds of churn.  Each round deletes a tenth of the rows;
# three pgbench clients insert as many, then go on inserting while a
# fourth deletes, a fifth runs VACUUM after VACUUM and a sixth runs
# ORDER BY <-> LIMIT 10 queries through the index; and the server is
# killed with SIGKILL, the postmaster and every child at once (dirty
# shared buffers and unwritten WAL are lost): in rounds 1, 3 and 5 while
# a VACUUM cleans up the index (pg_stat_progress_vacuum's phase "cleaning
# up indexes": graph repair, entry point move, freeing), at a random
# moment within about as long as that phase took undisturbed; in round 2
# while a VACUUM flags deleted nodes ("vacuuming indexes"); in round 4 at
# a moment of the load.  After each
# restart:
#
#   - recovery found no inconsistent page, and nothing logged an ERROR;
#   - omendb_check passes, with the heap check: every row has exactly one
#     live node with its code, no edge leads to a free slot, each page
#     counts its free slots right, the entry point is not free;
#   - every live row of a sample (a tenth of the rows, another each round;
#     after the last round all of them) is among the first 3 rows the
#     index returns for its own vector at the default search list;
#   - no deleted row's vector is returned: the nearest row to each of a
#     sample of them is at a distance > 0.
#
# Then, without crashes:
#
#   - one VACUUM finishes what the killed ones left: no node is left
#     deleted but the entry point, every other node that is not live is
#     free, and the live rows find themselves;
#   - inserts take free slots: inserting no more rows than there are free
#     slots leaves the index at its number of slots and its size;
#   - three rounds of deleting 600 rows, VACUUM and inserting 600 new
#     ones keep the index at its size: each VACUUM frees as many slots as
#     the inserts then take, so the index keeps its number of slots and of
#     free slots, and stays within 1.3 times its size.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use OmenTest;

my $NROWS = 20000;
my $ROUNDS = 5;
my $CHURN = 600;    # rows deleted and inserted in each steady round

# The kill delays are random; the seed is printed so that a failing run's
# schedule can be repeated (the timing of the load cannot).
my $seed = $ENV{OMENDB_CRASH_SEED} // 20261;
srand($seed);
note("kill delays from seed $seed (OMENDB_CRASH_SEED)");
note('child subreaper: ' . (become_subreaper() ? 'yes' : 'no'));

my $node = omen_node(
	'vacuum_repair',
	conf => [
		"wal_consistency_checking = 'generic'",
		'max_connections = 30',
		'autovacuum = off',
	]);
my $db = 'postgres';

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
-- 32 pseudo-random elements in [0, 1) from the id: distinct for distinct ids
CREATE FUNCTION vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
\$\$ SELECT array_agg((hashint4(id * 32 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
   FROM generate_series(0, 31) j \$\$;
CREATE TABLE items (id int PRIMARY KEY, v vector(32) NOT NULL);
-- ids are never reused: an id up to the sequence's value that no row has
-- is a deleted row (or an insert that never committed)
CREATE SEQUENCE ids START @{[ $NROWS + 1 ]};
INSERT INTO items SELECT i, vec(i) FROM generate_series(1, $NROWS) i;
CREATE INDEX items_v ON items USING omendb (v);
CHECKPOINT;
});

# ------------------------------------------------------------- checks

sub q1
{
	my ($sql) = @_;
	return $node->safe_psql($db, "SET enable_seqscan = off;\n$sql");
}

# The rows (of those WHERE $filter selects) that are not among the first 3
# the index returns for their own vector at the default search list.
sub self_misses_sql
{
	my ($filter) = @_;
	return qq{
SELECT t.id FROM items t WHERE ($filter)
  AND t.id NOT IN (SELECT u.id FROM items u ORDER BY u.v <-> t.v LIMIT 3)};
}

like(
	plan_of($node, $db, self_misses_sql('true'), 'SET enable_seqscan = off'),
	qr/Index Scan using items_v on items u/,
	'the lookup of a row by its own vector uses the omendb index');

# Every selected live row finds itself at the default search list; a row
# missed is asked again with the longest search list (10,000), to tell a
# search that stopped short from a row the index lost.
sub check_self
{
	my ($what, $filter) = @_;
	my $n = $node->safe_psql($db, "SELECT count(*) FROM items t WHERE $filter");
	# two sessions, half the rows each
	my @runs = map {
		my %r = (out => '', err => '');
		$r{h} = IPC::Run::start(
			[
				'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db),
				'-c', 'SET enable_seqscan = off',
				'-c', self_misses_sql("($filter) AND t.id % 2 = $_")
			],
			'>', \$r{out}, '2>', \$r{err});
		\%r
	} (0, 1);
	my @missed;
	for my $r (@runs)
	{
		$r->{h}->finish or die "the lookup of rows by their own vectors failed: $r->{err}";
		push @missed, split(/\n/, $r->{out});
	}
	my (@detail, @lost);
	for my $id (@missed)
	{
		# the shortest of these lists that finds the row, for the diagnostic
		my $got;
		for my $list (80, 400, 2000, 10000)
		{
			$got = q1(qq{
SET omendb.search_list_size = $list;
SELECT string_agg(id::text, ',') FROM (SELECT u.id FROM items u
ORDER BY u.v <-> (SELECT t.v FROM items t WHERE t.id = $id) LIMIT 3) s});
			if (grep { $_ eq $id } split(/,/, $got))
			{
				push @detail, "$id (found at search list $list: $got)";
				last;
			}
		}
		unless (grep { $_ eq $id } split(/,/, $got))
		{
			push @detail, "$id (search list 10000: $got)";
			push @lost, $id;
		}
	}
	is(scalar(@lost), 0,
		"$what: each of $n live rows is among the first 3 answers for its own vector at the longest search list (no row lost)");
	is(scalar(@missed), 0,
		"$what: each of $n live rows is among the first 3 answers for its own vector at the default search list")
	  or diag('missed: ' . join('; ', @detail[ 0 .. ($#detail < 19 ? $#detail : 19) ]));
}

# No deleted row's vector is returned: for a sample of the ids no row has
# (deleted, or never committed), the nearest row is at a distance > 0.
sub check_gone
{
	my ($what) = @_;
	my ($n, $ok) = split(
		/\|/, q1(q{
SELECT count(*), count(*) FILTER (WHERE n.d > 0)
FROM (SELECT g FROM generate_series(1, (SELECT last_value FROM ids)::int) g
	  WHERE hashint4(g) % 32 = 0 AND NOT EXISTS (SELECT FROM items WHERE id = g)) a
LEFT JOIN LATERAL (SELECT u.v <-> vec(a.g) AS d FROM items u ORDER BY u.v <-> vec(a.g) LIMIT 1) n ON true}));
	is($ok, $n, "$what: none of $n sampled deleted rows' vectors is returned");
}

sub check_state
{
	my ($what, $sample) = @_;
	my $c = omendb_check_ok($node, $db, 'items_v',
		"$what: omendb_check passes on items_v, with the heap check",
		heapallindexed => 1);
	check_self($what, $sample);
	check_gone($what);
	return $c;
}

# -------------------------------------------- one VACUUM, undisturbed

# A psql session that reports the phase of a VACUUM of items
# (pg_stat_progress_vacuum; 'none' while none runs), a query at a time.
sub start_watch
{
	my %w = (in => '', out => '', err => '');
	$w{timer} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$w{h} = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr($db) ],
		'<', \$w{in}, '>', \$w{out}, '2>', \$w{err}, $w{timer});
	return \%w;
}

sub progress_phase
{
	my ($w) = @_;
	$w->{out} = '';
	$w->{timer}->start($PostgreSQL::Test::Utils::timeout_default);
	$w->{in} .= q{SELECT coalesce((SELECT phase FROM pg_stat_progress_vacuum
	WHERE relid = 'items'::regclass), 'none');
\echo .
};
	$w->{h}->pump until $w->{out} =~ /^\.$/m;
	return ($w->{out} =~ /^(.*)$/m)[0];
}

my $deleted = $node->safe_psql($db, 'WITH d AS (DELETE FROM items WHERE hashint4(id) % 5 = 0 RETURNING 1) SELECT count(*) FROM d');
# VACUUM in the background while another session watches its phases: how
# long cleaning up the index takes sets the range of the kill delays.
my $mon = start_watch();
my $vac = start_watch();
$vac->{in} .= "VACUUM items;\n\\echo done\n";
my ($t_cleanup, $t_end);
while (1)
{
	my $phase = progress_phase($mon);
	$t_cleanup //= time() if $phase eq 'cleaning up indexes';
	$vac->{h}->pump_nb;
	if ($phase eq 'none' && $vac->{out} =~ /done/)
	{
		$t_end = time();
		last;
	}
	select(undef, undef, undef, 0.002);
}
$_->{in} .= "\\q\n", $_->{h}->finish for ($vac, $mon);
my $cleanup_secs = defined $t_cleanup ? $t_end - $t_cleanup : 0.02;
note(sprintf('the undisturbed VACUUM after %d deletes cleaned up the index in about %.3f s',
		$deleted, $cleanup_secs));

my $c = omendb_check_ok($node, $db, 'items_v',
	'after deletes and an undisturbed VACUUM, omendb_check passes, with the heap check',
	heapallindexed => 1,
	live_nodes => $NROWS - $deleted);
# (the entry point stays, a deleted node, if its row was among them; the
# nodes of the last pages move into the freed slots, and the pages they
# leave are cut off, so that fewer slots stay free than were freed)
ok( defined $c
	  && $c->{nodes} == $NROWS - $deleted + $c->{deleted_nodes} + $c->{free_nodes}
	  && $c->{free_nodes} < $deleted / 10,
	"an undisturbed VACUUM frees the slots of the $deleted deleted rows' nodes, fills them from the last pages and cuts those off"
) or diag('nodes|free_nodes: ' . join('|', map { $_ // 'NULL' } @{$c // {}}{qw(nodes free_nodes)}));
cmp_ok($c->{deleted_nodes} // 2, '<=', 1,
	'an undisturbed VACUUM leaves no node deleted but the entry point');
check_self('after an undisturbed VACUUM', '(hashint4(t.id) & 65535) % 10 = 0');

# -------------------------------------------------------------- the load

my $dir = PostgreSQL::Test::Utils::tempdir();
my %scripts;
sub script
{
	my ($load, $name, $weight, $sql) = @_;
	my $path = "$dir/$name.sql";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh $sql;
	close($fh);
	push @{ $scripts{$load} }, '-f', "$path\@$weight";
}
script('insert', 'insert', 1, q{
INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, 4)) s;
});
script('delete', 'delete', 1, q{
\set r random(1, 1000000000)
DELETE FROM items WHERE id IN
	(SELECT id FROM items WHERE id >= 1 + :r % (SELECT last_value FROM ids) ORDER BY id LIMIT 4);
});
script('vacuum', 'vacuum', 1, "VACUUM items;\n");
# scans meet nodes that VACUUM repairs around, frees and inserts reuse
script('scan', 'scan', 1, q{
\set id random(1, :maxid)
SELECT id FROM items ORDER BY v <-> vec(:id) LIMIT 10;
});

# pgbench running a load ('insert', 'delete' or 'vacuum') from $clients
# clients, with more options
sub start_load
{
	my ($load, $clients, @opts) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[
			'pgbench', '--no-vacuum', "--client=$clients", @opts,
			'--time=600', @{ $scripts{$load} }, $node->connstr($db)
		],
		'>', \$out, '2>', \$err);
}

# ------------------------------------------------------------ the rounds

my %target = (
	1 => 'cleaning up indexes',
	2 => 'vacuuming indexes',
	3 => 'cleaning up indexes',
	4 => 'none',
	5 => 'cleaning up indexes');
my $cleanup_hits = 0;
for my $round (1 .. $ROUNDS)
{
	my $r = "round $round";
	my $logpos = -s $node->logfile;
	my $gone = $node->safe_psql($db,
		"WITH d AS (DELETE FROM items WHERE hashint4(id * 7 + $round) % 10 = 0 RETURNING 1) SELECT count(*) FROM d");
	my $inserted = $node->safe_psql($db, 'SELECT last_value FROM ids');

	# three clients insert until they have made up for the deletes; then
	# they go on while a fourth deletes (fewer rows than they insert), a
	# fifth runs VACUUM after VACUUM and a sixth runs queries
	my @load = (start_load('insert', 3));
	$node->poll_query_until($db, 'SELECT last_value >= ' . ($inserted + $gone) . ' FROM ids')
	  or die "$r: the load did not insert";
	push @load, start_load('delete', 1, '--rate=40'), start_load('vacuum', 1),
	  start_load('scan', 1, '--rate=50', '-D', 'maxid=' . ($inserted + $gone));
	$mon = start_watch();
	my $want = $target{$round};
	my ($phase, $delay) = ('none', 0);
	if ($want eq 'none')
	{
		# a moment of the load: after a few hundred more inserts
		$node->poll_query_until($db,
			'SELECT last_value >= ' . ($inserted + $gone + 100 + int(rand(400))) . ' FROM ids')
		  or die "$r: the load did not insert";
	}
	else
	{
		# (if no VACUUM is seen there in 30 s, the kill comes anyway)
		my $deadline = time() + 30;
		while (($phase = progress_phase($mon)) ne $want && time() < $deadline)
		{
			select(undef, undef, undef, 0.002);
		}
		$delay = rand($want eq 'cleaning up indexes' ? $cleanup_secs : 0.02)
		  if $phase eq $want;
		select(undef, undef, undef, $delay);
	}
	# the phase just before the kill (the VACUUM may move on meanwhile)
	$phase = progress_phase($mon);
	$cleanup_hits++ if $phase eq 'cleaning up indexes';
	crash_node($node, 1, @load, $mon->{h});
	note(sprintf('%s: %d rows deleted, then SIGKILL to the server %.3f s after the load\'s VACUUM '
			  . 'reached "%s"; it was in "%s"', $r, $gone, $delay, $want, $phase));

	$node->start;
	my $log = slurp_file($node->logfile, $logpos);
	like($log, qr/database system was interrupted|not properly shut down/,
		"$r: the server went through crash recovery");
	my @errors = grep { /\b(ERROR|PANIC|TRAP)\b|inconsistent page|terminated by signal/ } split(/\n/, $log);
	is(scalar(@errors), 0,
		"$r: no ERROR under the load, and recovery found no inconsistent page")
	  or diag(join("\n", @errors[ 0 .. ($#errors < 19 ? $#errors : 19) ]));

	# a tenth of the rows, another each round; all of them after the last
	my $c = check_state("$r, after recovery",
		$round == $ROUNDS ? 'true' : "(hashint4(t.id) & 65535) % 10 = $round");
	note("$r: " . join(', ', map { "$_ " . ($c->{$_} // 'NULL') } qw(nodes live_nodes deleted_nodes free_nodes)))
	  if $c;
}
note("$cleanup_hits of $ROUNDS kills found a VACUUM cleaning up the index");

# ---------------------------------------------- after the crashes: VACUUM

# (INDEX_CLEANUP ON: the rows the load deleted after the last killed
# VACUUM may be too few for VACUUM to vacuum the indexes at all, and their
# nodes would stay live until a later one)
$node->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) items');
my $live = $node->safe_psql($db, 'SELECT count(*) FROM items');
$c = omendb_check_ok($node, $db, 'items_v',
	'after the crashes and a VACUUM, omendb_check passes with one live node for each row',
	heapallindexed => 1,
	live_nodes => $live);
my ($nodes0, $free0, $del0) = map { $_ // 0 } @{$c // {}}{qw(nodes free_nodes deleted_nodes)};
cmp_ok($del0, '<=', 1,
	'one VACUUM finishes what the killed ones left: no node is left deleted but the entry point');
is($free0, $nodes0 - $live - $del0,
	'one VACUUM finishes what the killed ones left: every other node that is not live is free');
check_self('after the crashes and a VACUUM', '(hashint4(t.id) & 65535) % 10 = 0');

# ------------------------------------------------------------ slot reuse

# The VACUUM may have moved nodes into every slot it freed (it moves the
# last pages' nodes while they fit): then free a few slots, too few for a
# page's worth of moves, so that the inserts below have some to take
# (INDEX_CLEANUP ON: with so few dead rows VACUUM would skip the indexes).
if ($free0 == 0)
{
	$node->safe_psql($db, q{
DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY hashint4(id + 99) LIMIT 5);
VACUUM (INDEX_CLEANUP ON) items;
});
	$live = $node->safe_psql($db, 'SELECT count(*) FROM items');
	$c = omendb_check_ok($node, $db, 'items_v',
		'after 5 more deletes and a VACUUM, omendb_check passes',
		heapallindexed => 1,
		live_nodes => $live);
	($nodes0, $free0, $del0) = map { $_ // 0 } @{$c // {}}{qw(nodes free_nodes deleted_nodes)};
}
cmp_ok($free0, '>', 0, 'before the inserts, the index has free slots');

my $size0 = $node->safe_psql($db, q{SELECT pg_relation_size('items_v')});
my $m = ($free0 // 0) < $CHURN ? $free0 // 0 : $CHURN;
$node->safe_psql($db,
	"INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, $m)) s");
$c = omendb_check_ok($node, $db, 'items_v',
	"after $m inserts into $free0 free slots, omendb_check passes",
	heapallindexed => 1);
is( join('|',
		map { $_ // 'NULL' } @{$c // {}}{qw(nodes free_nodes)},
		$node->safe_psql($db, q{SELECT pg_relation_size('items_v')})),
	join('|', $nodes0, $free0 - $m, $size0),
	"$m inserts into an index with $free0 free slots take free slots: the index keeps its $nodes0 slots and $size0 bytes"
);

for my $round (1 .. 3)
{
	$node->safe_psql(
		$db, qq{
DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY hashint4(id + 1000 * $round) LIMIT $CHURN);
VACUUM items;
INSERT INTO items SELECT i, vec(i) FROM (SELECT nextval('ids')::int AS i FROM generate_series(1, $CHURN)) s;
});
}
$live = $node->safe_psql($db, 'SELECT count(*) FROM items');
$c = omendb_check_ok($node, $db, 'items_v',
	"after three rounds of $CHURN deletes, VACUUM and $CHURN inserts, omendb_check passes",
	heapallindexed => 1,
	live_nodes => $live);
my $size1 = $node->safe_psql($db, q{SELECT pg_relation_size('items_v')});
note("the index: $nodes0 slots and $size0 bytes before, "
	  . ($c->{nodes} // 'NULL') . " slots and $size1 bytes after the rounds");
# (a round that deletes the entry point's row frees one slot fewer)
is( join('|',
		map { $_ // 'NULL' } $c->{nodes},
		defined $c->{free_nodes} ? $c->{free_nodes} + $c->{deleted_nodes} : undef),
	join('|', $nodes0, $free0 - $m + $del0),
	"three rounds of $CHURN deletes, VACUUM and $CHURN inserts leave the index its $nodes0 slots and "
	  . ($free0 - $m + $del0)
	  . ' free or deleted ones: each VACUUM frees the slots the inserts then take');
cmp_ok($size1, '<=', 1.3 * $size0,
	'the index stays within 1.3 times its size while the churn keeps the row count');
check_self('after the steady rounds', '(hashint4(t.id) & 65535) % 10 = 0');

$node->stop;
done_testing();
