# Sourced by test/run, test/run-sanitize and bench/run: the package lists
# of test/packages, and what installs the missing ones.

OMENDB_PACKAGES_FILE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/packages

# packages_of GROUP...: the entries of those groups, each once, in order.
# An unknown group is an error (a typo must not install nothing).
packages_of() {
	awk -v want="$*" '
		BEGIN { n = split(want, g, " "); for (i = 1; i <= n; i++) wanted[g[i]] = 1 }
		{ sub(/#.*/, "") }
		/^[ \t]*$/ { next }
		{
			grp = $1; sub(/:$/, "", grp)
			if (!(grp in wanted)) next
			found[grp] = 1
			for (i = 2; i <= NF; i++) if (!seen[$i]++) print $i
		}
		END {
			for (i = 1; i <= n; i++)
				if (!(g[i] in found)) { print "unknown package group: " g[i] > "/dev/stderr"; bad = 1 }
			exit bad
		}' "$OMENDB_PACKAGES_FILE"
}

# package_name ENTRY: "nodejs(node)" -> "nodejs"
package_name() { echo "${1%%(*}"; }

# package_command ENTRY: "nodejs(node)" -> "node"; nothing for a plain name
package_command() {
	case "$1" in
		*\(*\)) local c=${1#*(}; echo "${c%)}" ;;
	esac
}

package_installed() {
	dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null | grep -qx installed
}

# packages_missing ENTRY...: the entries neither installed nor, for
# package(command), replaced by that command on PATH; one a line.
packages_missing() {
	local e cmd
	for e in "$@"; do
		package_installed "$(package_name "$e")" && continue
		cmd=$(package_command "$e")
		[ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1 && continue
		package_name "$e"
	done
}

# packages_install LOG GROUP...: apt-get install what those groups lack.
# OMENDB_TEST_NO_APT=1, or not being root when PACKAGES_SUDO (e.g. "sudo")
# is unset, reports what is missing instead.
packages_install() {
	local log=$1 entries missing sudo=
	shift
	entries=$(packages_of "$@") || return 1
	# shellcheck disable=SC2086
	missing=$(packages_missing $entries | tr '\n' ' ')
	missing=${missing% }
	if [ -z "$missing" ]; then
		echo "all packages present ($*)"
		return 0
	fi
	if [ -n "${OMENDB_TEST_NO_APT:-}" ]; then
		echo "missing packages (OMENDB_TEST_NO_APT set, not installing): $missing" >&2
		return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		if [ -z "${PACKAGES_SUDO:-}" ]; then
			echo "missing packages and not root: $missing" >&2
			return 1
		fi
		sudo=$PACKAGES_SUDO
	fi
	echo "installing: $missing"
	# shellcheck disable=SC2086
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq </dev/null >"$log" 2>&1 &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
			--no-install-recommends $missing </dev/null >>"$log" 2>&1 ||
		{ tail -n 30 "$log"; return 1; }
	echo "installed"
}
