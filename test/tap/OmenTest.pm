# OmenTest: helpers shared by the omendb TAP tests (test/tap/0*.pl).
#
#   omen_node($name, %opts)       a started PostgreSQL::Test::Cluster with
#                                 settings suited to the test machine
#   fmnist_dir()                  where the Fashion-MNIST files are
#   fmnist_write($set, $n, $path) n images of a set ('train' or 't10k') as a
#                                 COPY text file: id, vector, label
#   knn_query(%a)                 SQL for the top-k of every query
#   knn_stats($node, $db, %a)     run it and measure it against a truth table
#   plan_of($node, $db, $sql, @settings)  EXPLAIN (COSTS OFF) output
#   own_top_sql($table, $id, $k)  SQL for the first k rows of table by
#                                 v <-> the vector of its row id
#   $ORDER_BY_PARAM               a plan's "Order By: (v <-> ...)" on a
#                                 value known at run time
#   omendb_check_ok($node, $db, $index, $name, %opts)
#                                 one test: omendb_check() on the index
#                                 raises no error (a skip if the server has
#                                 no omendb_check(regclass, boolean))
#   become_subreaper()            make this process reap the processes of
#                                 servers it kills (crash_node needs it)
#   crash_node($node, $all, @h)   SIGKILL a server's postmaster, with $all
#                                 every child of it too; end the IPC::Run
#                                 handles @h; wait until no process of the
#                                 old server is left
#   skip_unless_little_endian()   skip the whole test on a big-endian
#                                 machine, whose page bytes the offsets
#                                 and readers below do not describe
#   $PD_LOWER, $META_END          where a page header keeps pd_lower, and
#                                 where the meta page's data ends
#   u16($bytes, $at), u32(...)    an unsigned integer read from page bytes
#                                 (little-endian, as the tests that edit
#                                 pages require)
#
# test/run puts the directory of this file on PERL5LIB.
package OmenTest;

use strict;
use warnings;

use Config;
use Exporter 'import';
use IO::Uncompress::Gunzip qw($GunzipError);
use JSON::PP qw(decode_json);
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT =
  qw(omen_node fmnist_dir fmnist_write knn_query knn_stats plan_of own_top_sql
  wave_vec_sql $ORDER_BY_PARAM omendb_check_ok scans_during
  read_file write_file become_subreaper crash_node skip_unless_little_endian
  $PD_LOWER $META_END u16 u32);

# A failure's diagnostics go where its "not ok" line goes, in order with
# it, so that an excerpt of a run's output around the failure shows why.
Test::More->builder->failure_output(\*STDOUT);

# The page layout the tests that edit index pages rely on (src/omendb.h,
# PostgreSQL's page header): OmenMetaPageData right after the 24-byte page
# header, whose pd_lower is at byte 12.
our $PD_LOWER = 12;
our $META_END = 24 + 144;

sub skip_unless_little_endian
{
	plan skip_all => 'page offsets are written for a little-endian machine'
	  unless pack('L', 1) eq pack('V', 1);
	return;
}

sub u16 { my ($b, $at) = @_; return unpack('S', substr($b, $at, 2)); }
sub u32 { my ($b, $at) = @_; return unpack('L', substr($b, $at, 4)); }

# A node with enough memory for an index build in memory and WAL room for
# large builds; fsync is off (the tests crash processes, never the OS).
# Options: init => { ... } passed to init(), conf => [ lines ], start => 0,
# install_path => the installation whose programs the node runs.
sub omen_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name,
		$opts{install_path} ? (install_path => $opts{install_path}) : ());
	$node->init(%{ $opts{init} // {} });
	$node->append_conf(
		'postgresql.conf',
		join("\n",
			'shared_buffers = 256MB',
			'maintenance_work_mem = 256MB',
			'max_wal_size = 2GB',
			'fsync = off',
			@{ $opts{conf} // [] })
		  . "\n");
	$node->start unless defined $opts{start} && !$opts{start};
	return $node;
}

sub fmnist_dir
{
	return $ENV{OMENDB_FMNIST_DIR} // '/usr/share/datasets/fashion-mnist';
}

# Read exactly $len bytes from a gunzip stream.
sub _read_exact
{
	my ($z, $len, $what) = @_;
	my $buf = '';
	while (length($buf) < $len)
	{
		my $got = $z->read($buf, $len - length($buf), length($buf));
		die "fashion-mnist: $what: $GunzipError" if $got < 0;
		die "fashion-mnist: $what: unexpected end of file" if $got == 0;
	}
	return $buf;
}

# Write the first $n images of a set as "id<TAB>[p1,...,p784]<TAB>label"
# lines, ids from 1: the text format of COPY.  The IDX files are a 16-byte
# header (magic 2051, count, rows, cols) and then uint8 pixels, and an
# 8-byte header (magic 2049, count) and then one uint8 label per image.
sub fmnist_write
{
	my ($set, $n, $path) = @_;
	my $dir = fmnist_dir();
	my $img = IO::Uncompress::Gunzip->new("$dir/$set-images-idx3-ubyte.gz")
	  or die "fashion-mnist: $dir/$set-images-idx3-ubyte.gz: $GunzipError";
	my $lab = IO::Uncompress::Gunzip->new("$dir/$set-labels-idx1-ubyte.gz")
	  or die "fashion-mnist: $dir/$set-labels-idx1-ubyte.gz: $GunzipError";
	my ($magic, $count, $rows, $cols) =
	  unpack('N4', _read_exact($img, 16, 'image header'));
	die "fashion-mnist: bad image magic $magic" unless $magic == 2051;
	die "fashion-mnist: only $count images in $set" if $count < $n;
	my $dim = $rows * $cols;
	my ($lmagic, $lcount) = unpack('N2', _read_exact($lab, 8, 'label header'));
	die "fashion-mnist: bad label magic $lmagic" unless $lmagic == 2049;

	open(my $fh, '>', $path) or die "$path: $!";
	for my $id (1 .. $n)
	{
		my $pixels = _read_exact($img, $dim, "image $id");
		my $label = ord(_read_exact($lab, 1, "label $id"));
		print $fh $id, "\t[", join(',', unpack("C$dim", $pixels)), "]\t",
		  $label, "\n";
	}
	close($fh) or die "$path: $!";
	chmod(0644, $path);
	return $dim;
}

# SQL returning one row per (query, rank) for the top $k of every row of
# the queries table $queries, by operator $op, over table $table, with an
# optional $filter (may refer to the query row as q): qid, n (rank), id, d
# (the exact distance, as computed by the query).
sub knn_query
{
	my (%a) = @_;
	my $k = $a{k} // 10;
	my $queries = $a{queries} // 'queries';
	my $where = defined $a{filter} ? "WHERE $a{filter}" : '';
	return qq{
		SELECT q.qid, r.n, r.id, r.d
		FROM $queries q CROSS JOIN LATERAL (
			SELECT s.id, s.d, row_number() OVER () AS n
			FROM (SELECT i.id, i.v $a{op} q.v AS d FROM $a{table} i $where
				  ORDER BY i.v $a{op} q.v LIMIT $k) s) r};
}

# Run knn_query(%a) (after the statements in $a{settings}) and measure it
# against $a{truth}, a table (qid, ids int[], kth float8) of the exact
# answers.  A row counts as found if its distance is at most the k-th true
# distance (so ties with the k-th neighbour count, as in bench/).  Returns
# a hash: queries, rows, short (queries with fewer than k rows), recall,
# out_of_order (rows nearer than the row before), duplicates.
sub knn_stats
{
	my ($node, $db, %a) = @_;
	my $k = $a{k} // 10;
	my $settings = join('', map { "$_;\n" } @{ $a{settings} // [] });
	my $sql = knn_query(%a);
	my $out = $node->safe_psql(
		$db, qq{
$settings
CREATE TEMP TABLE knn_result AS $sql;
WITH per_query AS (
	SELECT t.qid, count(r.id) AS nrows,
		   count(r.id) FILTER (WHERE r.d <= t.kth + 1e-6 * greatest(1, abs(t.kth))) AS hits,
		   count(DISTINCT r.id) AS ndistinct
	FROM $a{truth} t LEFT JOIN knn_result r ON r.qid = t.qid
	GROUP BY t.qid),
ordered AS (
	SELECT count(*) FILTER (WHERE d < lag) AS out_of_order
	FROM (SELECT d, lag(d) OVER (PARTITION BY qid ORDER BY n) FROM knn_result) x)
SELECT count(*), sum(nrows), count(*) FILTER (WHERE nrows < $k),
	   round(sum(hits)::numeric / ($k * count(*)), 4),
	   (SELECT out_of_order FROM ordered), sum(nrows - ndistinct)
FROM per_query;
});
	my %r;
	@r{qw(queries rows short recall out_of_order duplicates)} =
	  split(/\|/, $out);
	return \%r;
}

# EXPLAIN (COSTS OFF) of a query, after some settings.
sub plan_of
{
	my ($node, $db, $sql, @settings) = @_;
	my $pre = join('', map { "$_;\n" } @settings);
	return $node->safe_psql($db, "${pre}EXPLAIN (COSTS OFF) $sql");
}

# SQL for a $dims-dimensional real[] from row number $i (an SQL expression):
# element j is sin(0.37 i j + j^2) + cos(0.011 i j), distinct for distinct
# rows.
sub wave_vec_sql
{
	my ($i, $dims) = @_;
	return "(SELECT array_agg(sin($i * 0.37 * j + j * j) + cos($i * 0.011 * j))::real[] FROM generate_series(1, $dims) j)";
}

# The first $k rows of $table by v <-> the vector of its row $id.  The
# vector comes from a subquery: were it a column of another relation of the
# same FROM, the planner could not order the index scan by it, and would
# sort the whole table instead.
sub own_top_sql
{
	my ($table, $id, $k) = @_;
	return qq{
SELECT u.id FROM $table u
ORDER BY u.v <-> (SELECT t.v FROM $table t WHERE t.id = $id) LIMIT $k};
}

# How a plan shows an index scan ordered by v <-> a value known only at run
# time (a subquery's): "$0" up to PostgreSQL 16, "(InitPlan 1).col1" from 17.
our $ORDER_BY_PARAM = qr/Order By: \(v <-> (?:\$\d+|\(InitPlan \d+\)\.col\d+)\)/;

# While the IPC::Run handle $bg runs (a session that changes table items
# and VACUUMs it), run statements that each compare, on one snapshot, the
# rows of items (id, v vector(16), index items_v) with what two index
# scans return: every live node in physical order (a NULL query, from a
# subquery: the planner drops an ORDER BY on a constant NULL) and an
# exhaustive search in distance order.  Two tests check that both are
# omendb index scans.  Returns how many statements ran and the lines
# ("rows, physical order all and distinct, distance order all and
# distinct") of those where a scan missed a row or returned one twice.
sub scans_during
{
	my ($node, $db, $bg) = @_;
	my @settings = ('SET enable_seqscan = off', 'SET omendb.search_list_size = 10000');
	my $sql = q{
SELECT (SELECT count(*) FROM items)
	|| ' ' || (SELECT count(*) || ' ' || count(DISTINCT id)
			   FROM (SELECT id FROM items ORDER BY v <-> (SELECT NULL::vector(16))) s)
	|| ' ' || (SELECT count(*) || ' ' || count(DISTINCT id)
			   FROM (SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]') s)};
	my $plan = plan_of($node, $db, $sql, @settings);
	Test::More::like($plan, qr/Index Scan using items_v on items \w+\n\s*$ORDER_BY_PARAM/,
		'the scan in physical order is an omendb index scan, its NULL query a parameter');
	Test::More::like($plan, qr/Index Scan using items_v on items \w+\n\s*Order By: \(v <-> '\[0,/,
		'the scan in distance order is an omendb index scan');
	my ($checks, @bad) = (0);
	while ($bg->pumpable)
	{
		my $line = $node->safe_psql($db, join('', map { "$_;\n" } @settings) . $sql);
		my ($heap, $phys, $phys_distinct, $ordered, $ordered_distinct) = split / /, $line;
		push @bad, $line
		  unless $phys == $heap && $phys_distinct == $heap
		  && $ordered == $heap && $ordered_distinct == $heap;
		$checks++;
		$bg->pump_nb;
	}
	return ($checks, @bad);
}

# One test named $name: SELECT * FROM omendb_check($index, heapallindexed)
# completes without an error (the function raises one on a corrupt index)
# and returns what the scenario guarantees.  Options:
#   heapallindexed => 1       also check that the table's rows are indexed
#   live_nodes => N           exactly N live nodes (after VACUUM: one per
#                             indexable row)
#   reachable => 1            every live node reachable from the entry point
#   clamped_nodes => N        exactly N clamped codes
#   free_nodes => N           exactly N free slots
# Returns a hash of the row (nodes, live_nodes, deleted_nodes, free_nodes,
# reachable_live_nodes, reachable_fraction, clamped_nodes,
# mean_error_ratio), or undef if the check failed.  A missing omendb_check
# fails the test.
sub omendb_check_ok
{
	my ($node, $db, $index, $name, %opts) = @_;
	my $heapall = $opts{heapallindexed} ? 'true' : 'false';
	my ($ret, $out, $err) = $node->psql($db,
		"SELECT row_to_json(c) FROM omendb_check('$index'::regclass, $heapall) c");
	my $row = $ret == 0 && $err !~ /ERROR|WARNING/ ? eval { decode_json($out) } : undef;
	my @problems;
	if (!$row)
	{
		push @problems, "omendb_check('$index', $heapall): exit $ret\n$err";
	}
	else
	{
		push @problems, "$row->{live_nodes} live nodes, expected $opts{live_nodes}"
		  if defined $opts{live_nodes} && $row->{live_nodes} != $opts{live_nodes};
		push @problems,
		  "$row->{reachable_live_nodes} of $row->{live_nodes} live nodes reachable"
		  if $opts{reachable} && $row->{reachable_live_nodes} != $row->{live_nodes};
		push @problems, "$row->{clamped_nodes} clamped nodes, expected $opts{clamped_nodes}"
		  if defined $opts{clamped_nodes} && $row->{clamped_nodes} != $opts{clamped_nodes};
		push @problems, "$row->{free_nodes} free slots, expected $opts{free_nodes}"
		  if defined $opts{free_nodes} && $row->{free_nodes} != $opts{free_nodes};
		note("omendb_check('$index'): "
			  . join(', ', map { "$_ " . ($row->{$_} // 'NULL') } sort keys %$row));
	}
	ok(!@problems, $name) or diag(join("\n", @problems));
	return @problems ? undef : $row;
}

# A killed postmaster lingers as a zombie until its parent reaps it, and
# PostgreSQL will not start while the old postmaster's pid still exists.
# pg_ctl, its parent, has exited, so it was re-parented to init, which may
# take its time.  Make this process a child subreaper (prctl
# PR_SET_CHILD_SUBREAPER) so that the server processes become its children
# and crash_node() can reap them; without it, crash_node waits for init.
# Returns whether it worked.
sub become_subreaper
{
	my %SYS_prctl = (x86_64 => 157, aarch64 => 167);
	my ($arch) = $Config{archname} =~ /^(\w+?)-/;
	return defined $SYS_prctl{ $arch // '' }
	  && syscall($SYS_prctl{$arch}, 36, 1, 0, 0, 0) == 0;
}

# Parent pid and state of a process, from /proc (empty if it is gone).
sub _proc_stat
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return;
	my $line = <$fh>;
	close($fh);
	return unless defined $line;
	# "pid (comm) state ppid ...": comm may hold spaces and parentheses
	my ($state, $ppid) = $line =~ /\)\s+(\S)\s+(\d+)/ or return;
	return ($ppid, $state);
}

# A process exists until it is reaped (a zombie still holds its pid).
sub _exists_pid
{
	my ($pid) = @_;
	1 while waitpid(-1, WNOHANG) > 0;
	return -e "/proc/$pid";
}

sub _children_of
{
	my ($parent) = @_;
	opendir(my $d, '/proc') or die "/proc: $!";
	my @kids = grep {
		my ($ppid) = _proc_stat($_);
		defined $ppid && $ppid == $parent
	} grep { /^\d+$/ } readdir($d);
	closedir($d);
	return @kids;
}

# SIGKILL the postmaster of $node, and with $all every child of it too
# (dirty shared buffers and unwritten WAL are lost; without $all the
# backends finish the statement they are in and exit), end the IPC::Run
# handles @loads (clients of the server), and wait until no process of the
# old server is left.  Returns the number of children the postmaster had.
sub crash_node
{
	my ($node, $all, @loads) = @_;
	my ($pm) = split(/\n/, PostgreSQL::Test::Utils::slurp_file($node->data_dir . '/postmaster.pid'));
	$pm += 0;
	# stopped, the postmaster cannot start a child we would not know of
	kill('STOP', $pm);
	my @kids = _children_of($pm);
	# with $all the children stop too, so that none of them sees the
	# postmaster die and runs its own exit path before its SIGKILL
	kill('STOP', @kids) if $all && @kids;
	$node->kill9;
	kill('KILL', @kids) if $all;
	$_->kill_kill for @loads;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (grep { _exists_pid($_) } ($pm, @kids))
	{
		BAIL_OUT('processes of the killed server did not exit')
		  if time() > $deadline;
		select(undef, undef, undef, 0.05);
	}
	return scalar(@kids);
}

# A relation file's bytes, read or written whole (the cluster stopped).
sub read_file
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "$path: $!";
	local $/;
	my $bytes = <$fh>;
	close($fh);
	return $bytes;
}

sub write_file
{
	my ($path, $bytes) = @_;
	open(my $fh, '>:raw', $path) or die "$path: $!";
	print $fh $bytes;
	close($fh) or die "$path: $!";
}

1;
