# TAP: the benchmark tool, bench/omendb-bench, against a throwaway node.
#
# Pins down what its figures rest on, not the figures themselves (timings
# do not belong in tests): it loads generated data, builds the index,
# measures every setting of a sweep, and writes one CSV row per setting
# with recall, QPS, index time and the floor measured beside that setting;
# a build reports its phases while it runs; the sequential-scan baseline is
# exact; the churn and built-empty runs measure every state they make, and
# the last against the fresh build in turn; bad options fail cleanly.
#
# test/run builds the tool and passes its path in OMENDB_BENCH.
use strict;
use warnings;

use OmenTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $bench = $ENV{OMENDB_BENCH};
plan skip_all => 'OMENDB_BENCH not set (test/run builds bench/omendb-bench)'
  unless defined $bench;
BAIL_OUT("no benchmark program at $bench (did bench/ build?)") unless -x $bench;

my $node = omen_node('bench');
my $out = PostgreSQL::Test::Utils::tempdir;
my $conninfo = $node->connstr('postgres');
my @common = (
	'--conninfo' => $conninfo, '--out-dir' => $out, '--no-plot',
	'--synthetic' => '3000,48,8', '--queries' => '40',
	'--repeat' => '3', '--floor-lookups' => '200');

# Read a CSV written by the tool: a list of hashes keyed by the header.
sub read_csv
{
	my ($path) = @_;
	open(my $fh, '<', $path) or return ();
	chomp(my $header = <$fh>);
	my @cols = split /,/, $header;
	my @rows;
	while (my $line = <$fh>)
	{
		chomp $line;
		# the setting is the only quoted field and holds no commas here
		my @f = map { s/^"(.*)"$/$1/r } split /,/, $line, -1;
		push @rows, { map { $cols[$_] => $f[$_] } 0 .. $#cols };
	}
	return @rows;
}

# A figure of the CSV as the tool prints it: digits, a point, digits (no
# sign, no "nan" or "inf"), and above zero.
sub positive_ok
{
	my ($value, $name) = @_;
	ok(defined $value && $value =~ /^[0-9]+\.[0-9]+$/ && $value > 0, $name)
	  or diag('got: ' . ($value // 'nothing'));
}

# A figure that is a difference of two timed passes (index ms: the search
# pass less the floor pass), as the tool prints it: digits, a point,
# digits, and a sign when the floor pass took the longer, as on a machine
# busy with other work.  It is measured, not bounded: timing is noise here.
sub difference_ok
{
	my ($value, $name) = @_;
	ok(defined $value && $value =~ /^-?[0-9]+\.[0-9]+$/, $name)
	  or diag('got: ' . ($value // 'nothing'));
}

my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[
		$bench, @common,
		'--name' => 'sweep',
		'--sweep' =>
		  'SET omendb.search_list_size=10|SET omendb.search_list_size=40'
	],
	'>' => \$stdout,
	'2>' => \$stderr);
ok($ok, 'a two-setting sweep over generated data runs to the end')
  or diag($stderr);
like($stdout, qr/^setting\s+recall\s+QPS\s+p50 ms\s+p95 ms\s+p99 ms\s+index ms\s+floor QPS$/m,
	'the summary table has its columns');

my @rows = read_csv("$out/sweep.csv");
is(scalar @rows, 2, 'the CSV has one row per setting');
is_deeply(
	[ map { $_->{setting} } @rows ],
	[ 'SET omendb.search_list_size=10', 'SET omendb.search_list_size=40' ],
	'the rows are the settings, in sweep order');
for my $r (@rows)
{
	my $label = $r->{setting} // '?';
	like($r->{recall}, qr/^[01]\.[0-9]{4}$/, "recall\@10 is a fraction ($label)");
	cmp_ok($r->{recall}, '>=', 0.95, "recall\@10 of the index ($label)");
	positive_ok($r->{qps}, "QPS measured ($label)");
	positive_ok($r->{floor_qps}, "a floor measured beside the setting ($label)");
	difference_ok($r->{index_ms}, "index time per query reported ($label)");
	positive_ok($r->{p50}, "p50 latency measured ($label)");
	cmp_ok($r->{p50}, '<=', $r->{p95}, "p50 <= p95 ($label)");
	cmp_ok($r->{p95}, '<=', $r->{p99}, "p95 <= p99 ($label)");
	positive_ok($r->{build_s}, "build time measured ($label)");
	is($r->{rows} . 'x' . $r->{dim}, '3000x48', "data size recorded ($label)");
	like($r->{index_bytes}, qr/^[1-9][0-9]*$/, "index size recorded ($label)");
}
my @truth = glob("$out/truth-*.bin");
is(scalar @truth, 1, 'the exact neighbours are cached for the next run');

# The sequential-scan baseline is exact, and reuses the cached neighbours.
$ok = IPC::Run::run([ $bench, @common, '--name' => 'seq', '--no-index' ],
	'>' => \$stdout, '2>' => \$stderr);
ok($ok, 'the no-index baseline runs') or diag($stderr);
like($stderr, qr/^exact neighbours: cached in /m,
	'the baseline reads the cached neighbours instead of recomputing them');
my @seq = read_csv("$out/seq.csv");
is(scalar @seq, 1, 'the baseline has one row');
is($seq[0]{recall}, '1.0000', 'a sequential scan finds every true neighbour');

# The build reports its phases while it runs.  A 3,000-row build ends
# before the tool's once-a-second poll, so hold one in a phase instead: a
# concurrent build waits in "waiting for old snapshots" for every transaction
# whose snapshot is older than its own.  A session keeps such a snapshot
# open until the build has sat in that phase for longer than a poll.
my ($hin, $hout, $herr) = ('', '', '');
my $holder = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $conninfo, '-f', '-' ],
	'<' => \$hin, '>' => \$hout, '2>' => \$herr,
	IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
$hin .= "BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT 'snapshot taken';\n";
$holder->pump until $hout =~ /snapshot taken/;

my ($pout, $perr) = ('', '');
my $reported = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
my $progress_run = IPC::Run::start(
	[
		$bench, @common,
		'--name' => 'progress', '--reuse-table',
		'--index-sql' =>
		  'CREATE INDEX CONCURRENTLY items_embedding_idx ON items USING omendb (embedding vector_l2_ops)',
		'--sweep' => 'SET omendb.search_list_size=10'
	],
	'>' => \$pout, '2>' => \$perr, $reported);
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) > 0 FROM pg_stat_progress_create_index WHERE phase = 'waiting for old snapshots'"),
	'a concurrent build waits for the open snapshot');
# Let the build go on once the tool has reported the phase it is held in
# (or the timer ran out: the assertion below then fails).
$progress_run->pump
  while $progress_run->pumpable
  && $perr !~ /^index: waiting for old snapshots: /m
  && !$reported->is_expired;
$hin .= "COMMIT;\n\\q\n";
$holder->finish;
ok($progress_run->finish, 'the build finishes once the snapshot is gone')
  or diag($perr);
like($perr, qr/^index: waiting for old snapshots: [0-9]+ of [0-9]+ rows$/m,
	'the build reports its phases as it goes');

# --churn: the index through rounds of delete / re-insert / VACUUM, then a
# fresh build on the same rows.  Every state holds all the rows (each round
# re-inserts what it deleted) and is measured at every setting; the rounds
# report their times, the builds theirs; recall is computed against rows
# that now have new ids.
$ok = IPC::Run::run(
	[
		$bench, @common,
		'--name' => 'churn', '--churn', '--rounds' => '2',
		'--delete-percent' => '10'
	],
	'>' => \$stdout,
	'2>' => \$stderr);
ok($ok, 'a two-round churn run runs to the end') or diag($stderr);
my @churn = read_csv("$out/churn.csv");
is_deeply(
	[ map { $_->{state} } @churn ],
	[ map { ($_) x 3 } 'build', 'round 1', 'round 2', 'fresh build' ],
	'the CSV has the build, each round and the fresh build, at three settings each');
is_deeply([ map { $_->{setting} } @churn[ 0 .. 2 ] ],
	[ '', 'SET omendb.search_list_size=80', 'SET omendb.search_list_size=160' ],
	'the settings: the default search list and two larger ones');
is(scalar(grep { $_->{live_rows} ne '3000' } @churn), 0,
	'every state holds every row');
for my $r (@churn)
{
	my $label = "$r->{state}, " . ($r->{setting} || 'default');
	cmp_ok($r->{recall}, '>=', 0.9, "recall\@10 with re-inserted rows ($label)");
	difference_ok($r->{index_ms}, "index time per query ($label)");
	difference_ok($r->{index_cpu_ms}, "index CPU time per query ($label)");
	positive_ok($r->{nodes_met}, "nodes met per query, from the index's counters ($label)");
	positive_ok($r->{page_visits}, "page visits per query, from the index's counters ($label)");
	like($r->{index_bytes}, qr/^[1-9][0-9]*$/, "index size ($label)");
	if ($r->{state} eq 'round 2')
	{
		difference_ok($r->{index_ms_ratio},
			"index time over the fresh build's, measured in turn ($label)");
		difference_ok($r->{index_cpu_ms_ratio},
			"CPU time over the fresh build's, measured in turn ($label)");
	}
	else
	{
		is("$r->{index_ms_ratio}|$r->{index_cpu_ms_ratio}", '|',
			"only the last round is measured in turn with the fresh build ($label)");
	}
	if ($r->{state} =~ /^round/)
	{
		positive_ok($r->{insert_s}, "re-insert time ($label)");
		positive_ok($r->{vacuum_s}, "VACUUM time ($label)");
		is($r->{build_s}, '', "no build in a round ($label)");
	}
	else
	{
		positive_ok($r->{build_s}, "build time ($label)");
		is($r->{insert_s}, '', "no re-insert in a build ($label)");
	}
}
ok(-s "$out/churn.md", 'the table is written beside the CSV');
like($stdout, qr/^\| round 2 \/ fresh build \| \| [0-9.]+x \| [0-9.]+x \|.* \| [0-9.]+x \/ [0-9.]+x \/ [0-9.]+x \|$/m,
	'the printed table ends with the last round against the fresh build, its page visits as ratios');

# --vacuum-first: VACUUM between the DELETE and the re-insert.
$ok = IPC::Run::run(
	[
		$bench, @common,
		'--name' => 'churn-vf', '--churn', '--rounds' => '1', '--vacuum-first',
		'--sweep' => ''
	],
	'>' => \$stdout,
	'2>' => \$stderr);
ok($ok, 'a churn run with VACUUM before the re-insert runs to the end')
  or diag($stderr);
my @vf = read_csv("$out/churn-vf.csv");
is_deeply([ map { $_->{state} } @vf ], [ 'build', 'round 1', 'fresh build' ],
	'one round between the builds');
positive_ok($vf[1]{vacuum_s}, 'its VACUUM is timed');
positive_ok($vf[1]{insert_s}, 'its re-insert is timed');
like($stdout, qr/^Run: .*then VACUUM items, then inserting/m,
	'the table says the VACUUM came before the re-insert');

# --build-empty, with a tiny first row: the index created on the empty
# table and loaded by COPY, against a build after the COPY.
$ok = IPC::Run::run(
	[
		$bench, @common,
		'--name' => 'empty', '--build-empty', '--metric' => 'cosine',
		'--scale-first-row' => '1e-3', '--sweep' => '|SET omendb.search_list_size=80'
	],
	'>' => \$stdout,
	'2>' => \$stderr);
ok($ok, 'a built-empty run runs to the end') or diag($stderr);
my @empty = read_csv("$out/empty.csv");
is_deeply(
	[ map { "$_->{state}|$_->{live_rows}" } @empty ],
	[ ('built empty|3000') x 2, ('built after COPY|3000') x 2 ],
	'the CSV has the index built empty and the one built after, with every row');
like($empty[0]{dataset}, qr/-first0\.001$/, 'the scaled first row is part of the data key');
positive_ok($empty[0]{insert_s}, 'the COPY into the indexed table is timed');
positive_ok($empty[2]{build_s}, 'the build after the COPY is timed');
cmp_ok($empty[2]{recall}, '>=', 0.9, 'recall of the index built after the COPY');
difference_ok($empty[$_]{index_cpu_ms_ratio},
	"the built-empty index's CPU time over the other's, measured in turn (setting $_)")
  for 0 .. 1;
is($empty[2]{index_cpu_ms_ratio}, '', 'the build after the COPY is the reference');
like($stdout, qr/^\| built empty \/ built after COPY \| \| 1\.00x \| .* \| [0-9.]+x \/ [0-9.]+x \| [0-9.]+x \/ [0-9.]+x \| \|/m,
	'the printed table ends with the two indexes measured in turn, as ratios');

# --filters: the filtered workloads on the index with filter columns, the
# graph forced so that every workload walks it.  Every query gets min(k,
# rows matching) rows, each passing its filter once, and each workload
# reports the index's counts of its scans.
$ok = IPC::Run::run(
	[
		$bench, @common,
		'--name' => 'filters', '--filters',
		'--session-sql' => 'SET enable_seqscan = off'
	],
	'>' => \$stdout,
	'2>' => \$stderr);
ok($ok, 'a filtered run runs to the end') or diag($stderr);
my @filters = read_csv("$out/filters.csv");
is($filters[0]{workload}, 'unfiltered', 'the first workload is the unfiltered query');
cmp_ok(scalar(@filters), '>=', 6, 'the categories, tenants and tags follow it');
for my $r (@filters)
{
	is("$r->{short_queries}|$r->{wrong_rows}", '0|0',
		"every query gets its rows, each passing once ($r->{workload})");
	cmp_ok($r->{recall}, '>=', 0.9, "recall\@10 against the exact filtered answer ($r->{workload})");
	is($r->{plan}, 'graph', "the omendb index answers ($r->{workload})");
	positive_ok($r->{nodes_met}, "nodes met per scan, from the index's counters ($r->{workload})");
	positive_ok($r->{page_visits}, "page visits per scan, from the index's counters ($r->{workload})");
}
like($stdout, qr/^Every query returned min\(10, rows matching\) rows/m,
	'the report says every query got its rows');

# A bad option fails with a message, not a crash or a partial CSV.
$ok = IPC::Run::run([ $bench, @common, '--name' => 'bad', '--metric' => 'hamming' ],
	'>' => \$stdout, '2>' => \$stderr);
ok(!$ok, 'an unknown metric is rejected');
like($stderr, qr/unknown metric "hamming"/, 'the message names the bad value');
ok(!-e "$out/bad.csv", 'no CSV is written for a rejected run');
$ok = IPC::Run::run(
	[ $bench, @common, '--name' => 'bad', '--churn', '--build-empty' ],
	'>' => \$stdout, '2>' => \$stderr);
ok(!$ok, '--churn and --build-empty together are rejected');
like($stderr, qr/give one/, 'the message says to give one');

$node->stop;
done_testing();
