# TAP: `make dist` makes a PGXN-ready archive.
#
# test/run runs make dist on the committed tree and leaves the archive in
# $OMENDB_DIST_DIR.  The archive:
#   - is omendb-VERSION.zip, every entry under omendb-VERSION/, where
#     VERSION is the control file's default_version;
#   - carries a META.json that passes test/check-meta.pl (PGXN Meta Spec
#     1.0.0) and names that same version for the distribution and the
#     extension;
#   - holds sources only: no object, library or generated script;
#   - builds with PGXS as it stands, into the install script and the
#     upgrade script from every earlier version.
use strict;
use warnings;

use File::Path qw(make_path);
use IO::Uncompress::Unzip qw($UnzipError);
use IPC::Run;
use JSON::PP qw(decode_json);
use PostgreSQL::Test::Utils;
use Test::More;

my @zips = glob(($ENV{OMENDB_DIST_DIR} // '.') . '/omendb-*.zip');
is(scalar(@zips), 1, 'make dist left one archive') or BAIL_OUT('no archive');
my ($version) = $zips[0] =~ /omendb-([^\/]+)\.zip$/;

# Extract the archive; returns the entry names.
sub unzip_to
{
	my ($zip, $to) = @_;
	my $z = IO::Uncompress::Unzip->new($zip) or die "unzip: $UnzipError";
	my @names;
	for (my $more = 1; $more > 0; $more = $z->nextStream)
	{
		my $name = $z->getHeaderInfo->{Name};
		push @names, $name;
		next if $name =~ m{/$};
		my $path = "$to/$name";
		make_path($path =~ s{/[^/]*$}{}r);
		open my $out, '>:raw', $path or die "$path: $!";
		my $buf;
		while ((my $n = $z->read($buf)) > 0) { print $out $buf; }
		close $out;
	}
	return @names;
}

my $to = PostgreSQL::Test::Utils::tempdir('dist');
my @names = unzip_to($zips[0], $to);
my $top = "omendb-$version";
is_deeply([ grep { !m{^\Q$top\E/} } @names ], [], "every entry is under $top/");

my $dir = "$to/$top";
my ($control) = slurp_file("$dir/omendb.control") =~ /^default_version = '([^']+)'/m;
is($control, $version, 'the archive is named for the control file\'s default_version');

my ($stdout, $stderr);
my $valid = IPC::Run::run([ 'perl', "$dir/test/check-meta.pl", 'META.json' ],
	'>', \$stdout, '2>', \$stderr, init => sub { chdir $dir });
ok($valid, 'META.json passes the PGXN Meta Spec 1.0.0 checks') or diag($stdout . $stderr);
my $meta = decode_json(slurp_file("$dir/META.json"));
is($meta->{version}, $version, 'META.json: the distribution\'s version');
is($meta->{provides}{omendb}{version}, $version, 'META.json: the extension\'s version');

is_deeply([ grep { /\.(o|so|bc|zip)$|^\Q$top\E\/(results|tmp_check|sql\/omendb--)/ } @names ], [],
	'sources only: no object, library, generated script or test output');

my $log = "$PostgreSQL::Test::Utils::tmp_check/dist-build.log";
ok(system("make -C '$dir' -j2 with_llvm=no >'$log' 2>&1") == 0,
	'the archive builds with PGXS') or diag(slurp_file($log));
ok(-f "$dir/omendb.so", 'the build makes the library');
ok(-f "$dir/sql/omendb--$version.sql", "the build makes the install script omendb--$version.sql");
my @upgrades = map { s{.*/}{}r } glob("$dir/sql/omendb--*--$version.sql");
ok(scalar(@upgrades) > 0, 'the build makes upgrade scripts: ' . join(' ', @upgrades));

done_testing();
