#!/usr/bin/perl
# Validate a PGXN META.json against the PGXN Meta Spec 1.0.0: the
# required keys, the shape and vocabulary of each known key, SemVer
# versions, and no unknown keys but the spec's "x_" extensions.  Prints
# one line per problem and exits 1 if there is any; prints "valid" and
# exits 0 otherwise.
#
#   perl test/check-meta.pl [META.json]
use strict;
use warnings;
use JSON::PP;

my $file = shift // 'META.json';
my @problems;

sub problem { push @problems, join('', @_); return; }

sub is_string { my ($v) = @_; return defined $v && !ref $v && $v ne ''; }

# A "term": at least two characters, no slash, backslash, control
# character or white space.
sub check_term
{
	my ($where, $v) = @_;
	problem("$where: not a term (two or more characters, no /, \\ or space)")
	  unless is_string($v) && length($v) >= 2 && $v !~ m{[/\\\s[:cntrl:]]};
	return;
}

# SemVer 1.0.0: MAJOR.MINOR.PATCH, optionally followed by a pre-release
# tag of alphanumerics, with no leading zeros.
sub check_semver
{
	my ($where, $v) = @_;
	problem("$where: \"", $v // '', "\" is not a SemVer version")
	  unless is_string($v)
	  && $v =~ /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z]+)?$/;
	return;
}

# A version range: "0" (any), a version, or comma-separated clauses of an
# operator and a version.
sub check_range
{
	my ($where, $v) = @_;
	return if defined $v && !ref $v && ($v eq '0' || $v eq '');
	unless (is_string($v))
	{
		problem("$where: not a version range");
		return;
	}
	for my $clause (split /\s*,\s*/, $v)
	{
		if ($clause =~ /^(?:==|!=|>=|<=|>|<)\s*(\S+)$/ || $clause =~ /^(\S+)$/)
		{
			check_semver($where, $1);
		}
		else
		{
			problem("$where: clause \"$clause\" is not a version range");
		}
	}
	return;
}

sub check_keys
{
	my ($where, $obj, $known, $required) = @_;
	unless (ref $obj eq 'HASH')
	{
		problem("$where: not an object");
		return 0;
	}
	for my $k (@$required)
	{
		problem("$where: required key \"$k\" missing") unless exists $obj->{$k};
	}
	for my $k (sort keys %$obj)
	{
		problem("$where: unknown key \"$k\"")
		  unless $known->{$k} || $k =~ /^x_/i;
	}
	return 1;
}

my %licenses = map { $_ => 1 } qw(
  agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd gfdl_1_2
  gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1
  openssl perl_5 postgresql qpl_1_0 ssleay sun zlib open_source restricted
  unrestricted unknown);

sub check_license
{
	my ($v) = @_;
	if (ref $v eq 'HASH')
	{
		problem('license: an empty object') unless %$v;
		problem("license: \"$_\" has no URL") for grep { !is_string($v->{$_}) } keys %$v;
		return;
	}
	for my $l (ref $v eq 'ARRAY' ? @$v : ($v))
	{
		problem('license: "', $l // '', '" is not a license the spec names')
		  unless is_string($l) && $licenses{$l};
	}
	return;
}

sub check_provides
{
	my ($v) = @_;
	unless (ref $v eq 'HASH' && %$v)
	{
		problem('provides: not an object naming at least one extension');
		return;
	}
	for my $ext (sort keys %$v)
	{
		check_term("provides: $ext", $ext);
		next unless check_keys("provides.$ext", $v->{$ext},
			{ map { $_ => 1 } qw(file version abstract docfile) }, [qw(file version)]);
		check_semver("provides.$ext.version", $v->{$ext}{version});
		for my $f (grep { exists $v->{$ext}{$_} } qw(file docfile))
		{
			problem("provides.$ext.$f: \"$v->{$ext}{$f}\" is not in the distribution")
			  unless is_string($v->{$ext}{$f}) && -f $v->{$ext}{$f};
		}
	}
	return;
}

sub check_prereqs
{
	my ($v) = @_;
	my %phases = map { $_ => 1 } qw(configure build test runtime develop);
	my %relations = map { $_ => 1 } qw(requires recommends suggests conflicts);
	return unless check_keys('prereqs', $v, \%phases, []);
	for my $phase (sort keys %$v)
	{
		next unless check_keys("prereqs.$phase", $v->{$phase}, \%relations, []);
		for my $rel (sort keys %{ $v->{$phase} })
		{
			my $deps = $v->{$phase}{$rel};
			next unless check_keys("prereqs.$phase.$rel", $deps, { map { $_ => 1 } keys %$deps }, []);
			check_range("prereqs.$phase.$rel.$_", $deps->{$_}) for sort keys %$deps;
		}
	}
	return;
}

open my $fh, '<', $file or die "$file: $!\n";
my $meta = eval { JSON::PP->new->utf8->decode(do { local $/; <$fh> }) };
if (!defined $meta)
{
	print "$file: not JSON: $@";
	exit 1;
}

my %top = map { $_ => 1 } qw(name abstract description version maintainer license
  provides prereqs release_status resources generated_by no_index tags meta-spec);
check_keys('META.json', $meta,
	\%top, [qw(name abstract version maintainer license provides meta-spec)]);
check_term('name', $meta->{name});
problem('abstract: empty') unless is_string($meta->{abstract});
check_semver('version', $meta->{version});
for my $m (ref $meta->{maintainer} eq 'ARRAY' ? @{ $meta->{maintainer} } : ($meta->{maintainer}))
{
	problem('maintainer: not a name') unless is_string($m);
}
check_license($meta->{license});
check_provides($meta->{provides});
check_prereqs($meta->{prereqs}) if exists $meta->{prereqs};
problem('release_status: not stable, testing or unstable')
  if exists $meta->{release_status}
  && !grep { $_ eq ($meta->{release_status} // '') } qw(stable testing unstable);
if (exists $meta->{tags})
{
	if (ref $meta->{tags} ne 'ARRAY' || !@{ $meta->{tags} })
	{
		problem('tags: not a list of tags');
	}
	else
	{
		problem("tags: \"$_\" is not a tag (1 to 255 characters, no /, \\ or control character)")
		  for grep { !is_string($_) || length($_) > 255 || m{[/\\[:cntrl:]]} } @{ $meta->{tags} };
	}
}
if (exists $meta->{no_index}
	&& check_keys('no_index', $meta->{no_index}, { file => 1, directory => 1 }, []))
{
	for my $k (keys %{ $meta->{no_index} })
	{
		my $v = $meta->{no_index}{$k};
		problem("no_index.$k: not a list of paths")
		  unless ref $v eq 'ARRAY' && !grep { !is_string($_) } @$v;
	}
}
if (check_keys('meta-spec', $meta->{'meta-spec'}, { version => 1, url => 1 }, ['version']))
{
	problem('meta-spec.version: this checker knows 1.0.0 only')
	  unless ($meta->{'meta-spec'}{version} // '') eq '1.0.0';
}

print "$file: $_\n" for @problems;
print "$file: valid\n" unless @problems;
exit(@problems ? 1 : 0);
