# TAP: the vector type over physical replication.
#
# A primary with a streaming standby; vectors written on the primary reach
# the standby byte for byte (text form and distances agree), and the
# extension's objects are usable read-only on the standby.
#
# Run by test/run (suite "tap") as the postgres user, with PERL5LIB pointing
# at PostgreSQL's PostgreSQL::Test::* modules.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "fsync = off\n");
$primary->start;

my $backup = 'base';
$primary->backup($backup);

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, $backup, has_streaming => 1);
$standby->start;

# Created after the backup, so the extension itself also has to replicate.
my ($ret, $stdout, $stderr) =
  $primary->psql('postgres', 'CREATE EXTENSION omendb');
is($ret, 0, 'CREATE EXTENSION omendb on the primary')
  or diag($stderr);

($ret, $stdout, $stderr) = $primary->psql(
	'postgres', q{
CREATE TABLE items (id int PRIMARY KEY, v vector(3));
INSERT INTO items VALUES
	(1, '[1,2,3]'),
	(2, '[-0.5,0.25,1e-38]'),
	(3, '[3.4e38,-3.4e38,0]'),
	(4, '[0.1,0.2,0.3]');
INSERT INTO items SELECT i, format('[%s,%s,%s]', i, -i, i * 0.5)::vector
	FROM generate_series(5, 200) i;
});
is($ret, 0, 'table with a vector(3) column created and filled on the primary')
  or diag($stderr);

$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'standby is in recovery');

my $rows_query = q{SELECT id, v, v <-> '[1,1,1]', v <#> '[1,1,1]', v <=> '[1,1,1]', v <+> '[1,1,1]'
	FROM items ORDER BY id};

my ($p_ret, $p_rows, $p_err) = $primary->psql('postgres', $rows_query);
my ($s_ret, $s_rows, $s_err) = $standby->psql('postgres', $rows_query);
is($p_ret, 0, 'primary answers the distance query') or diag($p_err);
is($s_ret, 0, 'standby answers the distance query') or diag($s_err);
is($s_rows, $p_rows, 'standby returns the same rows and distances as the primary');

is($standby->safe_psql('postgres', 'SELECT count(*) FROM items'),
	'200', 'standby has all 200 rows');

# Exact values survive replication (text output is the shortest
# round-trip representation, so equal text means equal floats).
($ret, $stdout, $stderr) =
  $standby->psql('postgres', 'SELECT v FROM items WHERE id = 2');
is($stdout, '[-0.5,0.25,1e-38]', 'standby returns the exact stored vector')
  or diag($stderr);

($ret, $stdout, $stderr) =
  $standby->psql('postgres', q{SELECT v <-> '[1,2,3]' FROM items WHERE id = 1});
is($stdout, '0', 'distance to itself is 0 on the standby') or diag($stderr);

# The standby is read-only.
($ret, $stdout, $stderr) =
  $standby->psql('postgres', q{INSERT INTO items VALUES (999, '[1,1,1]')});
isnt($ret, 0, 'standby refuses writes');
like($stderr, qr/read-only transaction/, '... as a read-only transaction');

# Updates and deletes replicate too.
$primary->safe_psql('postgres', q{
UPDATE items SET v = '[9,9,9]' WHERE id = 1;
DELETE FROM items WHERE id > 100;
});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is( $standby->safe_psql('postgres', 'SELECT count(*), min(v::text) FROM items WHERE id = 1 OR id > 100'),
	'1|[9,9,9]', 'update and delete replicated');

$standby->stop;
$primary->stop;

done_testing();
