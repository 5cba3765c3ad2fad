# omendb: PGXS build.
#
# The install script sql/omendb--$(EXTVERSION).sql is assembled from the
# per-concern pieces under src/sql/, in the order listed in SQL_PIECES, so
# that the type and the access method keep their SQL beside their C code.

EXTENSION = omendb
EXTVERSION = 0.1.0

MODULE_big = omendb
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
HEADERS = $(wildcard src/*.h)

SQL_PIECES = src/sql/vector.sql src/sql/omendb_am.sql src/sql/omendb_recall.sql
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql

# Every sql/*.sql except the install script is a pg_regress test.
REGRESS = $(sort $(basename $(notdir $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

PG_CONFIG ?= pg_config

# Warnings are errors in this tree; -O2 lets GCC vectorize the kernels.
PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -O2 -std=gnu99

EXTRA_CLEAN = sql/$(EXTENSION)--$(EXTVERSION).sql

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

$(OBJS): $(HEADERS)
