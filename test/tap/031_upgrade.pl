# TAP: upgrading from omendb 0.1.0 keeps every index working.
#
# The 0.1.0 tree (exported by test/run into $OMENDB_OLD_TREE) is built
# and installed into a private copy of the server's installation; a
# cluster running it creates the extension at 0.1.0 and builds indexes
# (L2, cosine built empty, inner product after deletes and VACUUM).  Then,
# as a user upgrades, the server stops, the current build's files replace
# the old ones, and the server starts again:
#
#   - before ALTER EXTENSION, the old SQL definitions run on the new
#     library: every index answers as before and as an exact scan does;
#   - ALTER EXTENSION omendb UPDATE reaches the current version, and the
#     upgraded extension defines exactly the objects a fresh CREATE
#     EXTENSION does (members, function definitions, comments);
#   - after it, the old indexes answer as before, pass omendb_check with
#     the heap check, take inserts and VACUUM, and need no REINDEX;
#   - omendb_index_stats, new in 0.2.0, reads the old meta pages: counts it
#     cannot know yet are NULL until a VACUUM, and agree with
#     omendb_check after it;
#   - pg_dump of the upgraded database restores into a fresh one that
#     answers the same.
use strict;
use warnings;

use File::Copy qw(copy);
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $old_tree = $ENV{OMENDB_OLD_TREE} // '';
plan skip_all => 'the 0.1.0 tree is not there (test/run exports it from git)'
  unless $old_tree ne '' && -f "$old_tree/omendb.control";

# 0.1.0 was released for PostgreSQL 15; it does not build against 13, 17
# or 18, so there no installation of it can exist to upgrade.
my ($major) = `pg_config --version` =~ /^PostgreSQL (\d+)/;
plan skip_all => "omendb 0.1.0 does not build against PostgreSQL $major: nothing to upgrade from"
  unless defined $major && $major == 15;

# The installation the current build went into, and a private copy of it
# (same layout under a new root, so its relative paths still hold).
my %dir = map { $_ => scalar(`pg_config --$_`) } qw(bindir sharedir pkglibdir);
chomp %dir;
my $root = PostgreSQL::Test::Utils::tempdir('install');
my $install = $root . ($dir{bindir} =~ s{/bin$}{}r);

sub copy_tree
{
	my ($from) = @_;
	make_path("$root$from");
	system('cp', '-a', "$from/.", "$root$from") == 0
	  or BAIL_OUT("cannot copy $from");
	return;
}
copy_tree($_) for ($dir{bindir} =~ s{/bin$}{}r, $dir{sharedir});
unlink glob("$root$dir{sharedir}/extension/omendb*");
unlink "$root$dir{pkglibdir}/omendb.so";

# Build 0.1.0 with this server's pg_config and install it into the copy.
my $log = "$PostgreSQL::Test::Utils::tmp_check/build-0.1.0.log";
my $built = system("make -C '$old_tree' -j2 with_llvm=no >'$log' 2>&1") == 0
  && system("make -C '$old_tree' with_llvm=no install DESTDIR='$root' >>'$log' 2>&1") == 0;
ok($built, 'omendb 0.1.0 builds and installs') or diag(slurp_file($log));
BAIL_OUT('no 0.1.0 build') unless $built;

my $node = omen_node('upgrade', install_path => $install,
	conf => ['autovacuum = off']);
my $db = 'postgres';

sub vec_sql
{
	my ($i, $d) = @_;
	return wave_vec_sql($i, $d);
}
my $qvec = '[' . join(',', map { sprintf('%.3f', sin($_ * 1.7)) } 1 .. 32) . ']';

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE l2 (id int PRIMARY KEY, v vector(32));
INSERT INTO l2 SELECT i, @{[ vec_sql('i', 32) ]} FROM generate_series(1, 1500) i;
CREATE INDEX l2_idx ON l2 USING omendb (v);

CREATE TABLE cos (id int PRIMARY KEY, v vector(32));
CREATE INDEX cos_idx ON cos USING omendb (v vector_cosine_ops);
INSERT INTO cos SELECT i, @{[ vec_sql('i + 7', 32) ]} FROM generate_series(1, 1500) i;

CREATE TABLE ip (id int PRIMARY KEY, v vector(32));
INSERT INTO ip SELECT i, @{[ vec_sql('i + 3', 32) ]} FROM generate_series(1, 1500) i;
CREATE INDEX ip_idx ON ip USING omendb (v vector_ip_ops);
DELETE FROM ip WHERE id % 5 = 0;
VACUUM ip;
});
is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'omendb'"),
	'0.1.0', 'the old cluster runs omendb 0.1.0');

my %op = (l2 => '<->', cos => '<=>', ip => '<#>');

sub top
{
	my ($n, $table, $how, $dbname) = @_;
	my $set =
	  $how eq 'index'
	  ? 'SET enable_seqscan = off; SET enable_bitmapscan = off;'
	  : 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
	return $n->safe_psql($dbname // $db,
		"$set SET omendb.search_list_size = 200; SELECT string_agg(id::text, ',') FROM "
		  . "(SELECT id FROM $table ORDER BY v $op{$table} '$qvec', id LIMIT 10) t");
}

my %before = map { $_ => top($node, $_, 'index') } sort keys %op;
is($before{$_}, top($node, $_, 'seq'), "0.1.0: $_ index answers as an exact scan")
  for sort keys %op;

# The upgrade: stop, put the current build in place, start.
$node->stop;
copy("$dir{pkglibdir}/omendb.so", "$root$dir{pkglibdir}/omendb.so")
  or BAIL_OUT("cannot install omendb.so: $!");
for my $f (glob("$dir{sharedir}/extension/omendb*"))
{
	copy($f, "$root$f") or BAIL_OUT("cannot install $f: $!");
}
$node->start;

my $current = $node->safe_psql($db,
	"SELECT default_version FROM pg_available_extensions WHERE name = 'omendb'");
isnt($current, '0.1.0', "the current build is a later version ($current)");
for my $t (sort keys %op)
{
	is(top($node, $t, 'index'), $before{$t},
		"new library, old SQL: $t index answers as before");
}

$node->safe_psql($db, 'ALTER EXTENSION omendb UPDATE');
is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'omendb'"),
	$current, "ALTER EXTENSION omendb UPDATE reaches $current");

# What the extension defines, as text: its members with their comments,
# its functions' definitions, its aggregates' support functions and its
# operator families' operators and support functions.
my $catalog_sql = q{
SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
	|| coalesce(' -- ' || obj_description(d.objid, c.relname), '')
	|| coalesce(E'\n' || CASE
		WHEN p.prokind = 'a' THEN
			(SELECT concat_ws(' ', a.aggtransfn, a.aggfinalfn, a.aggcombinefn,
					a.aggtranstype::regtype, a.agginitval)
			 FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
		WHEN p.oid IS NOT NULL THEN pg_get_functiondef(p.oid) END, '')
	|| coalesce(E'\n' ||
		(SELECT string_agg(pg_describe_object('pg_amop'::regclass, o.oid, 0), E'\n' ORDER BY 1)
		 FROM pg_amop o WHERE o.amopfamily = d.objid AND d.classid = 'pg_opfamily'::regclass), '')
	|| coalesce(E'\n' ||
		(SELECT string_agg(pg_describe_object('pg_amproc'::regclass, o.oid, 0), E'\n' ORDER BY 1)
		 FROM pg_amproc o WHERE o.amprocfamily = d.objid AND d.classid = 'pg_opfamily'::regclass), '')
FROM pg_depend d
JOIN pg_class c ON c.oid = d.classid
JOIN pg_extension e ON e.oid = d.refobjid
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
WHERE e.extname = 'omendb' AND d.deptype = 'e'
ORDER BY 1};
$node->safe_psql($db, 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION omendb');
my $upgraded = $node->safe_psql($db, $catalog_sql);
my $fresh = $node->safe_psql('fresh', $catalog_sql);
ok(length($fresh) > 0, 'a fresh install defines objects');
is($upgraded, $fresh,
	'the upgraded extension defines exactly what a fresh install does');

for my $t (sort keys %op)
{
	is(top($node, $t, 'index'), $before{$t}, "after the upgrade: $t index answers as before");
	omendb_check_ok($node, $db, "${t}_idx", "after the upgrade: $t index passes omendb_check",
		heapallindexed => 1);
}

# Counts the old meta pages cannot give are unknown until a VACUUM, and
# then agree with omendb_check.
my $stats_vs_check = q{
SELECT s.nodes = c.nodes, s.live_nodes = c.live_nodes,
	s.deleted_nodes = c.deleted_nodes, s.free_nodes = c.free_nodes
FROM omendb_index_stats('%1$s') s, omendb_check('%1$s') c};
is($node->safe_psql($db,
		"SELECT deleted_nodes IS NULL, free_nodes IS NULL, nodes > 0 FROM omendb_index_stats('ip_idx')"),
	't|t|t', 'omendb_index_stats on an old index: deletion counts unknown until VACUUM');
$node->safe_psql(
	$db, qq{
INSERT INTO l2 SELECT i, @{[ vec_sql('i', 32) ]} FROM generate_series(1501, 1800) i;
INSERT INTO cos SELECT i, @{[ vec_sql('i + 7', 32) ]} FROM generate_series(1501, 1800) i;
DELETE FROM ip WHERE id % 7 = 0;
INSERT INTO ip SELECT i, @{[ vec_sql('i + 3', 32) ]} FROM generate_series(1501, 1800) i;
VACUUM l2, cos, ip;
});
for my $t (sort keys %op)
{
	is($node->safe_psql($db, sprintf($stats_vs_check, "${t}_idx")),
		't|t|t|t', "after inserts and VACUUM: $t index statistics agree with omendb_check");
	is(top($node, $t, 'index'), top($node, $t, 'seq'),
		"after inserts and VACUUM: $t index answers as an exact scan");
}

# Dump the upgraded database and restore it into a new one.
my $dump = "$PostgreSQL::Test::Utils::tmp_check/upgraded.sql";
$node->command_ok([ 'pg_dump', '-d', $node->connstr($db), '-f', $dump ],
	'pg_dump of the upgraded database');
$node->safe_psql($db, 'CREATE DATABASE restored');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'the dump restores');
for my $t (sort keys %op)
{
	is(top($node, $t, 'index', 'restored'), top($node, $t, 'seq'),
		"restored: $t index answers as the upgraded database's exact scan");
}

$node->stop;
done_testing();
