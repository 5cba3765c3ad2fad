# TAP: omendb indexes with filter columns (key columns after the vector)
# through pg_dump and pg_restore, streaming replication and a crash.
#
# Every table here has an index on (v, cat, tag, tags): an integer, a
# text and an int[] filter column after a 16-d vector.  Vectors are
# pseudo-random from the row id (hashint4) and distinct, so a row's own
# vector finds that row alone at distance 0.  Filtered queries are the
# 10 nearest rows to each of 30 query vectors that pass an integer, a
# text, an array and a combined filter.
#
#   (a) pg_dump -Fc and pg_restore: the restored index has the original's
#       definition, its filtered queries use it with the filters as index
#       conditions, it answers them as the original does (nearly as a
#       sequential scan does, and exactly with an exhaustive search list),
#       and omendb_check with the heap cross-check (which compares every
#       node's labels with its row's) passes on it.
#   (b) A streaming standby, the primary with wal_consistency_checking =
#       'generic' (the standby compares each replayed generic record's
#       pages with the primary's images): after the build, single and
#       concurrent inserts, deletes and VACUUM (freed slots), and inserts
#       into the freed slots, the standby answers the filtered queries as
#       the primary does, has its node counts, omendb_check passes on it,
#       and it found no inconsistent page.
#   (c) A crash (SIGKILL to the postmaster and all its children) while
#       four clients insert into the table, again with
#       wal_consistency_checking: after crash recovery omendb_check passes
#       with the heap cross-check, and every live row is among the first 3
#       rows of a query for its own vector filtered on its own category
#       (and on its own tag, and on its own tags) at the default search
#       list, at least 99.9% of them, and every one with an exhaustive
#       list; more inserts and a VACUUM later, the check finds a live node
#       for each row.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OmenTest;

my $db = 'postgres';

# The schema of every node: the vector function, the table, the queries.
my $schema = q{
CREATE EXTENSION omendb;
-- 16 pseudo-random elements in [0, 1) from the id: distinct for distinct ids
CREATE FUNCTION vec(id int) RETURNS vector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT array_agg((hashint4(id * 16 + j) & 65535) / 65536.0 ORDER BY j)::real[]::vector
   FROM generate_series(0, 15) j $$;
-- a row's filter columns from its id: cat one of 100 (NULL for some),
-- tag one of 20, tags 1 to 3 of 30 values
CREATE FUNCTION cat_of(id int) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN id % 53 = 0 THEN NULL ELSE (hashint4(id) & 1023) % 100 END $$;
CREATE FUNCTION tag_of(id int) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT 't' || ((hashint4(id + 7) & 1023) % 20) $$;
CREATE FUNCTION tags_of(id int) RETURNS int[] LANGUAGE sql IMMUTABLE AS
$$ SELECT ARRAY(SELECT (hashint4(id * 3 + k) & 1023) % 30
                FROM generate_series(1, 1 + (hashint4(id) & 3) % 3) k) $$;
CREATE TABLE items (id int PRIMARY KEY, v vector(16), cat int, tag text, tags int[])
  WITH (autovacuum_enabled = off);
CREATE TABLE queries (qid int PRIMARY KEY, v vector(16));
INSERT INTO queries SELECT q, vec(1000000 + q) FROM generate_series(1, 30) q;
};

# The rows with ids from $from to $to.
sub rows_sql
{
	my ($from, $to) = @_;
	return "INSERT INTO items SELECT i, vec(i), cat_of(i), tag_of(i), tags_of(i) FROM generate_series($from, $to) i";
}

# n rows with the next ids of the sequence fill.
sub insert_next
{
	my ($n) = @_;
	return "INSERT INTO items SELECT i, vec(i), cat_of(i), tag_of(i), tags_of(i) "
	  . "FROM (SELECT nextval('fill')::int AS i FROM generate_series(1, $n)) s";
}

# The 10 nearest rows to every query that pass each filter, as text.
my @filters = (
	'cat = q.qid % 100',
	"tag = 't' || (q.qid % 20)",
	'tags && ARRAY[q.qid % 30]',
	"cat < 50 AND tag IN ('t1', 't2', 't3') AND tags @> ARRAY[q.qid % 30]");
my $topk_sql = "SET enable_seqscan = off;\nSELECT q.qid"
  . join('',
	map { ",\n  (SELECT array_agg(id) FROM (SELECT id FROM items t WHERE $_ ORDER BY t.v <-> q.v LIMIT 10) s)" }
	  @filters)
  . "\nFROM queries q ORDER BY q.qid;";

# The plans of the filtered queries on a node: the index, with the
# filters as index conditions.
sub uses_filters
{
	my ($node, $dbname, $what) = @_;
	my $q = "'[" . join(',', (0.5) x 16) . "]'";
	my $plan = plan_of($node, $dbname,
		"SELECT id FROM items WHERE cat = 7 AND tag = 't3' AND tags && '{5}' ORDER BY v <-> $q LIMIT 10",
		'SET enable_seqscan = off');
	like($plan, qr/Index Scan using items_f on items/, "$what: the filtered query uses items_f");
	like($plan,
		qr/Index Cond: \(\(cat = 7\) AND \(tag = 't3'::text\) AND \(tags && '\{5\}'::integer\[\]\)\)/,
		"$what: the filters on cat, tag and tags are its index conditions");
}

# Every query has 10 rows under each filter but the combined one.
sub all_answered
{
	my ($out) = @_;
	my @short = grep {
		my @f = split(/\|/, $_, -1);
		grep { !defined $f[$_] || ($f[$_] =~ tr/,//) != 9 } (1 .. 3)
	} split(/\n/, $out);
	return scalar(@short);
}

# ------------------------------------------------------ (a) dump / restore

{
	my $node = omen_node('dump');
	my $dir = PostgreSQL::Test::Utils::tempdir();
	$node->safe_psql('postgres', 'CREATE DATABASE src');
	$node->safe_psql('src', $schema . rows_sql(1, 3000) . ";\n" . q{
UPDATE items SET tag = NULL WHERE id % 61 = 0;
UPDATE items SET tags = NULL WHERE id % 67 = 0;
CREATE INDEX items_f ON items USING omendb (v vector_l2_ops, cat, tag, tags) WITH (graph_degree = 24);
ANALYZE items;
});
	my $file = "$dir/src.dump";
	$node->command_ok([ 'pg_dump', '-Fc', '-f', $file, '-d', $node->connstr('src') ],
		'(a) pg_dump -Fc of a database with a multi-column omendb index');
	$node->safe_psql('postgres', 'CREATE DATABASE dst');
	$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $file ],
		'(a) pg_restore into a new database');
	$node->safe_psql('dst', 'ANALYZE items');

	my $def = "SELECT indexdef FROM pg_indexes WHERE indexname = 'items_f'";
	like($node->safe_psql('src', $def),
		qr/USING omendb \(v, cat, tag, tags\) WITH \(graph_degree='24'\)/,
		'(a) the original index definition has the filter columns');
	is($node->safe_psql('dst', $def), $node->safe_psql('src', $def),
		'(a) the restored index has the same definition');
	uses_filters($node, 'dst', '(a) restored');

	my $src = $node->safe_psql('src', $topk_sql);
	is(all_answered($src), 0, '(a) the original index answers every filtered query with 10 rows');
	is($node->safe_psql('dst', $topk_sql), $src,
		'(a) the restored index gives the same filtered answers as the original');
	# Against a sequential scan: with an exhaustive search list the
	# answers are exact (README.omendb, "Exhaustive scans"); at the default
	# list nearly so.
	my $seq = $node->safe_psql('dst',
		$topk_sql =~ s/SET enable_seqscan = off;/SET enable_indexscan = off; SET enable_bitmapscan = off;/r);
	is( $node->safe_psql('dst',
			$topk_sql =~ s/SET enable_seqscan = off;/SET enable_seqscan = off; SET omendb.search_list_size = 10000;/r),
		$seq,
		'(a) with an exhaustive search list the restored index gives a sequential scan\'s answers, in order');
	my ($hits, $all) = (0, 0);
	my %want = map { my @f = split(/\|/, $_, -1); ($f[0] => \@f) } split(/\n/, $seq);
	for my $line (split(/\n/, $src))
	{
		my @f = split(/\|/, $line, -1);
		for my $i (1 .. $#f)
		{
			my %got = map { $_ => 1 } ($f[$i] =~ /(\d+)/g);
			my @w = ($want{ $f[0] }[$i] =~ /(\d+)/g);
			$all += @w;
			$hits += grep { $got{$_} } @w;
		}
	}
	note("(a) filtered recall\@10 at the default search list: $hits of $all");
	cmp_ok($hits, '>=', 0.98 * $all,
		'(a) at the default search list the filtered answers hold at least 98% of the true 10 nearest');
	omendb_check_ok($node, 'dst', 'items_f',
		'(a) omendb_check with the heap cross-check passes on the restored index',
		heapallindexed => 1, live_nodes => 3000);

	# the restored index takes inserts, and filters them
	$node->safe_psql('dst', rows_sql(3001, 3200));
	is( $node->safe_psql(
			'dst', q{
SET enable_seqscan = off;
SELECT count(*) FROM items t WHERE t.id > 3000 AND t.cat IS NOT NULL
  AND t.id = (SELECT u.id FROM items u WHERE u.cat = t.cat ORDER BY u.v <-> t.v LIMIT 1)}),
		$node->safe_psql('dst', 'SELECT count(*) FROM items WHERE id > 3000 AND cat IS NOT NULL'),
		'(a) rows inserted after the restore are found by their category and vector');
	$node->stop;
}

# ---------------------------------------------------------- (b) standby

{
	my $primary = omen_node(
		'primary',
		init => { allows_streaming => 1 },
		conf => ["wal_consistency_checking = 'generic'"]);
	$primary->backup('base');
	my $standby = PostgreSQL::Test::Cluster->new('standby');
	$standby->init_from_backup($primary, 'base', has_streaming => 1);
	$standby->start;

	$primary->safe_psql($db, $schema . rows_sql(1, 2000) . ";\n" . q{
CREATE INDEX items_f ON items USING omendb (v, cat, tag, tags);
CREATE SEQUENCE fill START 2001;
});

	my $counts_sql =
	  "SELECT nodes, live_nodes, deleted_nodes, free_nodes FROM omendb_check('items_f', true)";
	my $compare = sub {
		my ($what) = @_;
		# a first pass on the primary flags the nodes of dead rows its scans
		# meet (kill_prior_tuple), in records of their own; deleted nodes
		# take no place in a search's list, so the standby answers as the
		# primary only once it has replayed them
		$primary->safe_psql($db, $topk_sql);
		$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
		my $p = $primary->safe_psql($db, $topk_sql);
		$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
		is(all_answered($p), 0, "(b) $what: the primary answers every filtered query with 10 rows");
		is($standby->safe_psql($db, $topk_sql), $p,
			"(b) $what: the standby gives the primary's filtered answers");
		# the primary's scans may have flagged nodes of dead rows deleted
		# (kill_prior_tuple), in records of their own: the standby must
		# have them too before the counts are compared
		$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
		my @counts = map {
			my ($ret, $out, $err) = $_->psql($db, $counts_sql);
			$ret == 0 ? $out : $err
		} ($primary, $standby);
		like($counts[0], qr/^\d+\|\d+\|\d+\|\d+$/,
			"(b) $what: omendb_check with the heap cross-check passes on the primary");
		is($counts[1], $counts[0],
			"(b) $what: omendb_check passes on the standby, with the primary's node counts");
		return $counts[0];
	};

	uses_filters($standby, $db, '(b) standby');
	$compare->('after the build');

	# single-row inserts, and four clients inserting at once
	$primary->safe_psql($db, insert_next(1)) for (1 .. 20);
	$primary->pgbench(
		'--no-vacuum --client=4 --jobs=2 --transactions=100',
		0,
		[qr{processed: 400/400}],
		[qr{^$}],
		'(b) 4 clients insert 400 rows concurrently on the primary',
		{ '036_insert.sql' => insert_next(1) . ";\n" });
	$compare->('after single and concurrent inserts');

	# deletes (a whole category among them) and VACUUM free slots
	$primary->safe_psql($db, q{
DELETE FROM items WHERE id % 4 = 0 OR cat = 77;
VACUUM items;
});
	my $freed = $compare->('after deletes and VACUUM');
	my ($nodes, $live, $deleted, $free) = split(/\|/, $freed);
	# (then moved the last pages' nodes into them and cut those off)
	cmp_ok($nodes, '<', $live + $deleted + 500,
		"(b) VACUUM freed the deleted rows' slots and cut off the pages it emptied ($nodes slots, $free free)");

	# inserts into the freed slots, with labels of their own, and updates
	# of filter columns alone (new nodes, new labels)
	$primary->safe_psql($db, insert_next(400));
	my $updated = $primary->safe_psql($db, 'SELECT count(*) FROM items WHERE id % 10 = 1');
	$primary->safe_psql($db, "UPDATE items SET cat = 7, tag = 't7' WHERE id % 10 = 1");
	my $after = $compare->('after inserts into the freed slots and updates of filter columns');
	my ($nodes2, $live2, $deleted2, $free2) = split(/\|/, $after);
	my $new = 400 + $updated;
	note("(b) $new new nodes: " . ($nodes2 - $nodes) . " new slots, " . ($free - $free2) . " freed slots taken");
	is($free2, $free > $new ? $free - $new : 0,
		"(b) the $new new nodes took the free slots before new ones");

	ok($standby->safe_psql($db, 'SELECT pg_is_in_recovery()') eq 't',
		'(b) the standby is still in recovery (its startup process did not fail)');
	my $log = slurp_file($standby->logfile);
	unlike($log, qr/inconsistent page found/,
		'(b) wal_consistency_checking found no inconsistent page on the standby');
	unlike($log, qr/PANIC|terminated by signal/, '(b) no PANIC or crash on the standby');
	$standby->stop;
	$primary->stop;
}

# ------------------------------------------------------------ (c) crash

{
	note('child subreaper: ' . (become_subreaper() ? 'yes' : 'no'));
	my $node = omen_node('crash', conf => ["wal_consistency_checking = 'generic'"]);
	$node->safe_psql($db, $schema . rows_sql(1, 2000) . ";\n" . q{
CREATE INDEX items_f ON items USING omendb (v, cat, tag, tags);
CREATE SEQUENCE fill START 2001;
CHECKPOINT;
});

	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $script = "$dir/insert.sql";
	open(my $fh, '>', $script) or die "$script: $!";
	print $fh "\\set n random(1, 3)\n", insert_next(':n'), ";\n";
	close($fh);
	my ($out, $err) = ('', '');
	my $load = IPC::Run::start(
		[
			'pgbench', '--no-vacuum', '--client=4', '--jobs=2', '--time=600',
			'-f', $script, $node->connstr($db)
		],
		'>', \$out, '2>', \$err);
	ok($node->poll_query_until($db, 'SELECT count(*) >= 3000 FROM items'),
		'(c) four clients insert into the table');
	my $logpos = -s $node->logfile;
	my $nkids = crash_node($node, 1, $load);
	note("(c) SIGKILL to the postmaster and its $nkids children");
	$node->start;
	my $log = slurp_file($node->logfile, $logpos);
	like($log, qr/database system was interrupted|not properly shut down/,
		'(c) the server went through crash recovery');
	unlike($log, qr/inconsistent page found|PANIC/, '(c) recovery found no inconsistent page');

	my $live = $node->safe_psql($db, 'SELECT count(*) FROM items');
	note("(c) $live rows committed before the crash");
	omendb_check_ok($node, $db, 'items_f',
		'(c) after recovery omendb_check passes with the heap cross-check',
		heapallindexed => 1);

	# Each live row against the first 3 rows of a query for its own vector
	# filtered on its own category, tag or tags: the rows not among them.
	# (A row whose category is NULL passes no filter on it.)
	my %self = (
		category => [ 'u.cat = t.cat', 't.cat IS NOT NULL' ],
		tag => [ 'u.tag = t.tag', 'true' ],
		tags => [ 'u.tags && t.tags', 'true' ]);
	for my $what (sort keys %self)
	{
		my ($filter, $rows) = @{ $self{$what} };
		my $missed_sql = qq{
SELECT t.id FROM items t
WHERE $rows AND NOT EXISTS (
  SELECT FROM (SELECT u.id FROM items u WHERE $filter ORDER BY u.v <-> t.v LIMIT 3) n
  WHERE n.id = t.id)
ORDER BY t.id};
		my $n = $node->safe_psql($db, "SELECT count(*) FROM items t WHERE $rows");
		like(
			plan_of($node, $db, $missed_sql, 'SET enable_seqscan = off'),
			qr/Index Scan using items_f on items u/,
			"(c) the lookup by $what and vector uses items_f");
		my @missed = split(/\n/,
			$node->safe_psql($db, "SET enable_seqscan = off;\n$missed_sql"));
		note("(c) by $what: " . scalar(@missed) . " of $n rows not among the first 3 at the default list");
		cmp_ok(scalar(@missed), '<=', $n / 1000,
			"(c) by $what: at least 99.9% of the $n rows are among the first 3 rows for their own $what and vector");
		# One row among the first 3 for its own $what and vector: 1 or 0.
		# (u in a lateral subquery, not beside t in one FROM: there the
		# planner could not order the scan of u by t.v, and would sort.)
		my $own_sql = sub {
			my ($id) = @_;
			return qq{
SELECT count(*) FROM items t CROSS JOIN LATERAL (
  SELECT u.id FROM items u WHERE $filter ORDER BY u.v <-> t.v LIMIT 3) n
WHERE t.id = $id AND n.id = t.id};
		};
		like(
			plan_of($node, $db, $own_sql->(1), 'SET enable_seqscan = off'),
			qr/Index Scan using items_f on items u\n(?:.*Index Cond: .*\n)?.*Order By: \(v <-> t\.v\)/,
			"(c) the lookup of one row by its $what and vector is a scan of items_f in distance order");
		my @lost = grep {
			$node->safe_psql($db,
				"SET enable_seqscan = off;\nSET omendb.search_list_size = 10000;\n"
				  . $own_sql->($_)) ne '1'
		} @missed;
		is(scalar(@lost), 0,
			"(c) by $what: with an exhaustive search list every row is among them")
		  or diag('not found: ' . join(', ', @lost));
	}

	# the index goes on taking inserts, and VACUUM leaves a node per row
	$node->safe_psql($db, rows_sql(100001, 100200) . ";\nVACUUM (INDEX_CLEANUP ON) items;");
	my $rows = $node->safe_psql($db, 'SELECT count(*) FROM items');
	omendb_check_ok($node, $db, 'items_f',
		"(c) after more inserts and VACUUM, omendb_check passes with a live node for each of the $rows rows",
		heapallindexed => 1, live_nodes => $rows);
	$node->stop;
}

done_testing();
