# TAP: scans that run while VACUUM moves nodes return every row once.
#
# After its cleanup VACUUM moves the live nodes of an index's last pages
# into the slots it freed, cleans up again and truncates the pages it
# emptied (src/README.omendb, "Moving nodes").  A scan may meet a moving
# row in its old slot and again in the copy; a pass over the node pages in
# physical order could pass the copy's page before the move and the old
# slot after it.  Here a background session runs rounds of deleting a
# fifth of the rows, inserting as many new ones (which go to new pages)
# and VACUUM, while this session runs statements that each compare, on
# one snapshot, the table's rows with what an index scan returns: every
# live node in physical order (a NULL query), and an exhaustive search in
# distance order.  Pinned down: in no statement is a row returned twice
# or missed; after the rounds (and a VACUUM with the index to itself, in
# case the last round's found it open at every try) the index is no
# larger than a fresh build of the same rows plus a page, and
# omendb_check passes with the heap check.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('primary', conf => ['autovacuum = off']);
my $db = 'postgres';
my $NROWS = 20000;
my $ROUNDS = 8;

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16)) WITH (autovacuum_enabled = off);
INSERT INTO items SELECT i, @{[ wave_vec_sql('i', 16) ]} FROM generate_series(1, $NROWS) i;
CREATE INDEX items_v ON items USING omendb (v);
});
my $fresh_bytes = $node->safe_psql($db, "SELECT pg_relation_size('items_v')");

# the rounds, in one background session
my $rounds_sql = join(
	'',
	map {
		my $from = $NROWS + ($_ - 1) * ($NROWS / 5) + 1;
		my $to = $NROWS + $_ * ($NROWS / 5);
		"DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY hashint4(id + $_) LIMIT @{[ $NROWS / 5 ]});\n"
		  . "INSERT INTO items SELECT i, @{[ wave_vec_sql('i', 16) ]} FROM generate_series($from, $to) i;\n"
		  . "VACUUM items;\n"
	} (1 .. $ROUNDS)) . "\\q\n";
my ($bg_out, $bg_err) = ('', '');
my $bg = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db) ],
	'<', \$rounds_sql, '>', \$bg_out, '2>', \$bg_err);

# statements comparing the index scans with the table, each on one
# snapshot, while the rounds run
my ($checks, @bad) = scans_during($node, $db, $bg);
ok($bg->finish, 'the rounds of deletes, inserts and VACUUM ran') or diag($bg_err);
note("$checks statements compared the index scans with the table during $ROUNDS rounds");
cmp_ok($checks, '>=', $ROUNDS, 'scans ran throughout the rounds');
ok(!@bad, 'every scan returned each row of its snapshot exactly once')
  or diag("rows, physical order (all, distinct), distance order (all, distinct):\n"
	  . join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));

# (the last round's VACUUM may have found the index open at every try;
# one with the index to itself truncates what is left)
my $bytes = $node->safe_psql($db, "SELECT pg_relation_size('items_v')");
note("after the rounds the index has $bytes bytes, a fresh build $fresh_bytes");
$node->safe_psql($db, 'VACUUM items');
$bytes = $node->safe_psql($db, "SELECT pg_relation_size('items_v')");
cmp_ok($bytes, '<=', $fresh_bytes + 8192,
	"after $ROUNDS rounds and a VACUUM the index is the size of a fresh build ($bytes bytes, fresh $fresh_bytes)");
omendb_check_ok($node, $db, 'items_v',
	'after the rounds omendb_check passes, with the heap check',
	heapallindexed => 1,
	live_nodes => $NROWS,
	reachable => 1);

$node->stop;
done_testing();
