#!/usr/bin/perl
# package-owners.pl ALLOWED FILES [PGROOT] [SERVER]: test/run's package check.
#
# ALLOWED lists packages, one a line: what a fresh machine gets from the
# groups of test/packages that a suite installs.  FILES lists the absolute
# paths the suite used (headers, libraries, programs, Perl modules, data).
# Each file must be owned by an allowed package or by one of the base
# system (Priority: required).  PGROOT, when given, is the root of a
# relocated copy of Debian's server (OMENDB_PGBIN): a file under it is
# judged as the same path without PGROOT.  SERVER, when given, is the
# installation of a server built from source: its files belong to no
# package and are counted apart.
#
# Prints one line per offending file and a last line
# "checked N, unchecked N, bad N"; exits 1 if any file is bad.
use strict;
use warnings;

use Cwd qw(realpath);

my ($allowed_file, $files_file, $pgroot, $server) = @ARGV;
$pgroot = '' unless defined $pgroot;
$server = '' unless defined $server;

sub read_lines
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "$path: $!\n";
	my @l = grep { length } map { s/\s+$//r } <$fh>;
	close $fh;
	return @l;
}

my %allowed = map { $_ => 1 } read_lines($allowed_file);
my %seen;
my @files = grep { !$seen{$_}++ } read_lines($files_file);

# The paths under which dpkg may know a file: as used, resolved, either
# side of the /usr merge, and without the relocated server's root.
sub candidates
{
	my ($f) = @_;
	my @c = ($f);
	my $r = realpath($f);
	push @c, $r if defined $r && $r ne $f;
	@c = map { ($_, ($pgroot ne '' && index($_, "$pgroot/") == 0) ? substr($_, length $pgroot) : ()) } @c;
	return map {
		my $p = $_;
		($p,
		  $p =~ m{^/usr(/(?:lib|lib32|lib64|bin|sbin)/.*)} ? $1
		  : $p =~ m{^/(?:lib|lib32|lib64|bin|sbin)/} ? "/usr$p"
		  : ())
	} @c;
}

my (%cand, %all);
my @missing;
for my $f (@files)
{
	if (!-e $f)
	{
		push @missing, $f;
		next;
	}
	$cand{$f} = [ candidates($f) ];
	$all{$_} = 1 for @{ $cand{$f} };
}

# One dpkg-query for every path: "pkg[:arch][, pkg...]: path".
my %owner;
if (%all)
{
	my @paths = sort keys %all;
	# dpkg-query complains on stderr about every path it does not know
	open(my $saved, '>&', \*STDERR) or die "dup: $!\n";
	open(STDERR, '>', '/dev/null') or die "/dev/null: $!\n";
	open(my $q, '-|', 'dpkg-query', '-S', @paths) or die "dpkg-query: $!\n";
	open(STDERR, '>&', $saved) or die "dup: $!\n";
	while (my $line = <$q>)
	{
		chomp $line;
		next if $line =~ /^diversion /;
		my ($pkgs, $path) = $line =~ /^(.*?): (\/.*)$/ or next;
		my @p = map { s/:.*//r } split /, /, $pkgs;
		$owner{$path} = \@p;
	}
	close $q;    # dpkg-query exits 1 when some path is unknown
}

my %priority;
{
	my %pk = map { $_ => 1 } map { @$_ } values %owner;
	if (%pk)
	{
		open(my $q, '-|', 'dpkg-query', '-W', '-f=${Package}\t${Priority}\n', sort keys %pk)
		  or die "dpkg-query: $!\n";
		while (<$q>)
		{
			chomp;
			my ($p, $prio) = split /\t/;
			$priority{$p} = $prio // '';
		}
		close $q;
	}
}

my ($checked, $unchecked, $bad) = (0, 0, 0);
for my $f (@missing)
{
	print "  $f: not found\n";
	$bad++;
}
FILE: for my $f (grep { $cand{$_} } @files)
{
	my @owners = map { @{ $owner{$_} // [] } } @{ $cand{$f} };
	if (!@owners)
	{
		if ($server ne '' && grep { index($_, "$server/") == 0 } @{ $cand{$f} })
		{
			$unchecked++;
			next FILE;
		}
		print "  $f: no Debian package owns it\n";
		$bad++;
		next FILE;
	}
	$checked++;
	for my $p (@owners)
	{
		next FILE if $allowed{$p} || ($priority{$p} // '') eq 'required';
	}
	my %u = map { $_ => 1 } @owners;
	print "  $f: from ", join(', ', sort keys %u),
	  ", which the listed packages do not bring\n";
	$bad++;
}
print "checked $checked, unchecked $unchecked, bad $bad\n";
exit($bad ? 1 : 0);
