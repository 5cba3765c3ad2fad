# TAP: an ordered scan's search state stays within omendb.scan_mem_limit.
#
# Each scan reports, at DEBUG1 when it ends, the largest search state it
# held (frontier, results, late rows and visited set, in bytes) and its
# limit.  Over 20,000 rows a scan without LIMIT, and a LIMIT query whose
# filter matches nothing, both walk the whole index: within 64 kB they
# stay under it (and say so with a NOTICE), while the same scans within
# 64 MB hold several times as much, so the limit is what bounds them.
# sql/omendb_scan_memory.sql checks the rows such scans return.
#
# Run by test/run (suite "tap") as the postgres user.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $node = omen_node('scan_memory');
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION omendb;
CREATE TABLE items (id int PRIMARY KEY, v vector(8));
INSERT INTO items
SELECT i, ARRAY(SELECT ((abs(sin(i * 12.9898 + j * 78.233)) * 43758.5453)::numeric % 1)::real
				FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 20000) i;
CREATE INDEX items_v ON items USING omendb (v vector_l2_ops);
});

my $q = q{'[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]'};

# Run $sql under omendb.scan_mem_limit = $mem; returns its output, whether
# it raised the limit NOTICE, and the scan's peak and limit from DEBUG1.
sub scan_memory
{
	my ($mem, $sql) = @_;
	my ($ret, $out, $err) = $node->psql(
		'postgres', qq{
SET enable_seqscan = off;
SET omendb.scan_mem_limit = '$mem';
SET client_min_messages = debug1;
$sql;
});
	is($ret, 0, "scan within $mem runs") or diag($err);
	my ($peak, $limit) =
	  $err =~ /omendb scan of "items_v".* search state peaked at (\d+) bytes \(limit (\d+)\)/;
	my $notice = $err =~ /NOTICE:  omendb scan of index "items_v" reached omendb.scan_mem_limit/;
	return ($out, $notice, $peak, $limit);
}

my $all = "SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> $q) s";
my $none = "SELECT count(*) FROM (SELECT id FROM items WHERE id < 0 ORDER BY v <-> $q LIMIT 10) s";

my ($out, $notice, $peak, $limit) = scan_memory('64MB', $all);
is($out, '20000|20000', 'within 64 MB a scan without LIMIT returns every row once');
ok(!$notice, 'within 64 MB it does not reach the limit');
ok(defined $peak && $peak > 4 * 65536,
	'within 64 MB it holds more than four times 64 kB (' . ($peak // 'no DEBUG1 line') . ' bytes)');
my $unbounded = $peak;

($out, $notice, $peak, $limit) = scan_memory('64kB', $all);
is($out, '20000|20000', 'within 64 kB a scan without LIMIT returns every row once');
ok($notice, 'within 64 kB it reaches the limit and says so');
is($limit, 65536, 'the scan reports its limit in bytes');
ok(defined $peak && $peak <= 65536,
	'within 64 kB its search state peaks under the limit (' . ($peak // 'no DEBUG1 line') . ' bytes)');

($out, $notice, $peak, $limit) = scan_memory('128kB', $all);
is($out, '20000|20000', 'within 128 kB a scan without LIMIT returns every row once');
ok(defined $peak && $peak <= 131072 && $peak < $unbounded,
	'within 128 kB its search state peaks under the limit (' . ($peak // 'no DEBUG1 line') . ' bytes)');

($out, $notice, $peak, $limit) = scan_memory('64MB', $none);
is($out, '0', 'a filter that matches nothing returns nothing');
ok(defined $peak && $peak > 4 * 65536,
	'and within 64 MB its scan holds more than four times 64 kB (' . ($peak // 'no DEBUG1 line') . ' bytes)');

($out, $notice, $peak, $limit) = scan_memory('64kB', $none);
is($out, '0', 'within 64 kB a filter that matches nothing returns nothing');
ok($notice, 'within 64 kB that scan reaches the limit and says so');
ok(defined $peak && $peak <= 65536,
	'within 64 kB its search state peaks under the limit (' . ($peak // 'no DEBUG1 line') . ' bytes)');

$node->stop;
done_testing();
