# omendb: PGXS build.
#
# The install script sql/omendb--$(EXTVERSION).sql is assembled from the
# per-concern pieces under src/sql/, in the order listed in SQL_PIECES, so
# that the type and the access method keep their SQL beside their C code.
# Pieces are only ever added: the upgrade script from 0.1.0 is the pieces
# added since, so a fresh install and an upgraded one define the same
# objects (TAP 031_upgrade.pl compares them).

EXTENSION = omendb
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = omendb
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
HEADERS = $(wildcard src/*.h)

SQL_PIECES_0_1_0 = src/sql/vector.sql src/sql/omendb_am.sql
SQL_PIECES_0_2_0 = src/sql/halfvec.sql src/sql/omendb_recall.sql \
	src/sql/omendb_stats.sql src/sql/omendb_scan_stats.sql \
	src/sql/omendb_l1.sql src/sql/omendb_radius.sql \
	src/sql/omendb_l1_radius.sql src/sql/omendb_filter.sql
SQL_PIECES = $(SQL_PIECES_0_1_0) $(SQL_PIECES_0_2_0)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql \
	sql/$(EXTENSION)--0.1.0--0.2.0.sql

# The companion extension omendb_pgvector: omendb operator classes for
# pgvector's own types, in the library above (README.md, "pgvector's
# columns").
DATA = pgvector/omendb_pgvector.control pgvector/omendb_pgvector--0.2.0.sql

# Every sql/*.sql except the install script is a pg_regress test (not
# sql/include/*.sql: the helper functions tests read with \i).
REGRESS = $(sort $(basename $(notdir $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config

# Warnings are errors in this tree; -O2 lets GCC vectorize the kernels.
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -O2 -std=gnu99

EXTRA_CLEAN = $(DATA_built) $(EXTENSION)-$(EXTVERSION).zip

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PostgreSQL 13 has no SQL-standard function bodies (BEGIN ATOMIC ... END):
# there such a body becomes a string, which resolves its names when called,
# with the search_path of CREATE EXTENSION (the extension's schema; a later
# ALTER EXTENSION ... SET SCHEMA leaves it behind).
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
ifeq ($(PG_MAJOR),13)
SQL_BODIES = sed -e '/^BEGIN ATOMIC$$/,/^END;$$/{s/^BEGIN ATOMIC$$/SET search_path FROM CURRENT AS $$atomic$$/;s/^END;$$/$$atomic$$;/;}'
else
SQL_BODIES = cat
endif

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PIECES)
	@mkdir -p $(@D)
	cat $^ | $(SQL_BODIES) > $@

sql/$(EXTENSION)--0.1.0--0.2.0.sql: $(SQL_PIECES_0_2_0)
	@mkdir -p $(@D)
	{ printf '%s\n' '-- complain if script is sourced in psql, rather than via ALTER EXTENSION' \
		'\echo Use "ALTER EXTENSION $(EXTENSION) UPDATE TO '"'0.2.0'"'" to load this file. \quit'; \
		cat /dev/null $^; } > $@

# A PGXN source distribution of the committed tree, once META.json passes
# the PGXN Meta Spec checks: make dist.
dist:
	perl test/check-meta.pl META.json
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ \
		-o $(EXTENSION)-$(EXTVERSION).zip HEAD
.PHONY: dist

$(OBJS): $(HEADERS)
