# TAP: omendb_check on a healthy index never reports corruption while
# other sessions change it.
#
# omendb_check takes only AccessShareLock, so inserts (which add nodes
# and node pages, reuse free slots and rewrite neighbour lists), deletes,
# updates and VACUUM (which marks nodes deleted, takes them out of the
# graph, frees their slots and frees heap line pointers) run while it
# reads.  Its claims are made to hold anyway (see "Verification" in
# src/README.omendb): every row its snapshot sees has exactly one live
# node with the right code; every neighbour it reads is a node it read,
# and one it read as a free slot was reused since; no live node it read
# points at a freed line pointer unless VACUUM marked the node meanwhile.  Here pgbench clients write and vacuum while
# other clients run omendb_check with the heap check, in READ COMMITTED
# and REPEATABLE READ: any error fails the run.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('check_concurrent',
	conf => ['autovacuum = off', 'max_connections = 30']);
my $db = 'postgres';

# 16 pseudo-random elements in [0, 1) from the row id (deterministic).
sub vec_sql
{
	my ($id) = @_;
	return "(SELECT array_agg((hashint4($id * 16 + j) & 65535) / 65536.0)::real[] FROM generate_series(0, 15) j)";
}

$node->safe_psql(
	$db, qq{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(16), note text);
INSERT INTO items SELECT i, @{[ vec_sql('i') ]}, NULL FROM generate_series(1, 3000) i;
CREATE INDEX items_l2 ON items USING omendb (v) WITH (graph_degree = 8, build_list_size = 16);
CREATE INDEX items_cos ON items USING omendb (v vector_cosine_ops) WITH (graph_degree = 8, build_list_size = 16)
	WHERE id % 2 = 0;
CREATE SEQUENCE next_id START 100001;
});

$node->pgbench(
	'--no-vacuum --client=6 --jobs=3 --time=12',
	0,
	[qr{processed: [1-9]}],
	[qr{^$}],
	'writers, VACUUM and omendb_check with the heap check, concurrently: no errors',
	{
		'016_insert.sql@6' => qq{
INSERT INTO items SELECT i, @{[ vec_sql('i') ]}, NULL FROM (SELECT nextval('next_id')::int AS i) s;
},
		'016_change.sql@4' => qq{
\\set id random(1, 3000)
DELETE FROM items WHERE id = :id;
UPDATE items SET v = @{[ vec_sql(':id + 50000') ]} WHERE id = :id + 1;
UPDATE items SET note = 'hot' WHERE id = :id + 2;
},
		'016_vacuum.sql@1' => q{
VACUUM items;
},
		'016_check.sql@2' => q{
SELECT nodes FROM omendb_check('items_l2', true);
SELECT nodes FROM omendb_check('items_cos', true);
},
		'016_check_rr.sql@1' => q{
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT nodes FROM omendb_check('items_l2', true);
SELECT nodes FROM omendb_check('items_cos', true);
COMMIT;
},
	});

# And once everything has settled, the counts add up: one live node per
# row the index holds.  (INDEX_CLEANUP ON: a VACUUM that finds few dead
# rows may otherwise leave the index alone.)
$node->safe_psql($db, 'VACUUM (INDEX_CLEANUP ON) items');
is( $node->safe_psql($db, "SELECT live_nodes FROM omendb_check('items_l2', true)"),
	$node->safe_psql($db, 'SELECT count(*) FROM items'),
	'afterwards items_l2 has one live node per row');
is( $node->safe_psql($db, "SELECT live_nodes FROM omendb_check('items_cos', true)"),
	$node->safe_psql($db, 'SELECT count(*) FROM items WHERE id % 2 = 0'),
	'afterwards the partial index items_cos has one live node per row it covers');
unlike(slurp_file($node->logfile), qr/terminated by signal|PANIC|is corrupted/,
	'server log: no crash and no corruption reported');

$node->stop;
done_testing();
