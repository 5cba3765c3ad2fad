/*-------------------------------------------------------------------------
 *
 * omendb_filter.h
 *	  Filter columns: the scalar and array columns an index carries after
 *	  its vector, their labels on every node, and the scan keys the graph
 *	  walk applies to them (README.omendb, "Filter columns").
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_FILTER_H
#define OMENDB_FILTER_H

#include "omendb.h"

#include "access/skey.h"
#include "fmgr.h"

/* Most filter columns an index may have: every key column but the vector. */
#define OMENDB_MAX_FILTER_COLUMNS	(INDEX_MAX_KEYS - 1)

/*
 * Strategy numbers of the filter operator classes: btree's for scalars,
 * and the array operators after them.
 */
#define OMENDB_FILTER_LT			1
#define OMENDB_FILTER_LE			2
#define OMENDB_FILTER_EQ			3
#define OMENDB_FILTER_GE			4
#define OMENDB_FILTER_GT			5
#define OMENDB_FILTER_OVERLAP		6	/* anyarray && anyarray */
#define OMENDB_FILTER_CONTAINS		7	/* anyarray @> anyarray */
#define OMENDB_FILTER_CONTAINED		8	/* anyarray <@ anyarray */
#define OMENDB_FILTER_STRATEGIES	8

/*
 * How a filter column's values become a node's label word (one uint64).
 * Exact labels decide every operator of their class; lossy ones may admit
 * rows the qual rejects, which the executor's recheck then drops, never
 * the other way round.
 */
typedef enum OmenFilterKind
{
	OMENDB_FILTER_INTEGER = 1,	/* int2/4/8, bool, date, timestamp(tz): the
								 * value as an int64; exact */
	OMENDB_FILTER_HASH = 2,		/* text, uuid, ...: the type's 64-bit hash
								 * under the column's collation; = only,
								 * lossy */
	OMENDB_FILTER_SIGNATURE = 3 /* arrays: a 64-bit signature, the union of
								 * the bits of its elements' hashes
								 * (signature_bits each); lossy */
} OmenFilterKind;

/* A filter column of an index, as labels are computed for it. */
typedef struct OmenFilterColumn
{
	Oid			typid;			/* the column's type */
	Oid			collation;		/* the column's collation */
	OmenFilterKind kind;
	Oid			elemtype;		/* arrays: the element type */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	FmgrInfo	hash;			/* HASH and SIGNATURE: the (element) type's
								 * extended hash function */
	int			signature_bits; /* SIGNATURE: bits an element sets, as the
								 * index's meta page says */
} OmenFilterColumn;

typedef struct OmenFilterColumns
{
	int			ncolumns;
	OmenFilterColumn columns[FLEXIBLE_ARRAY_MEMBER];
} OmenFilterColumns;

/* One scan key on a filter column, with its constants turned into words. */
typedef struct OmenFilterKey
{
	int			column;			/* filter column (0 = the index's second) */
	int			strategy;		/* OMENDB_FILTER_* strategy */
	int			nwords;			/* = ANY (array), or an overlap's elements:
								 * any of these */
	uint64	   *words;
} OmenFilterKey;

/* The filter keys of a scan: a node is returned only if it matches all. */
typedef struct OmenFilter
{
	int			nkeys;
	OmenFilterKey *keys;
	bool		lossy;			/* some key may admit rows it should not:
								 * the executor must recheck */
	bool		impossible;		/* some key matches no row (a NULL
								 * constant, an empty = ANY) */
} OmenFilter;

/* Bytes of labels on a node for an index of natts key columns. */
#define OmenLabelSize(natts) \
	((natts) > 1 ? (uint32) (sizeof(uint64) * (natts)) : 0)

/*
 * A node's labels: word 0 has bit i set when filter column i is NULL, and
 * word 1 + i holds filter column i's label.
 */
#define OmenNodeLabels(node, meta) \
	((uint64 *) ((char *) (node) + \
				 OmenNodeLabelOffset((meta)->max_degree, (meta)->code_size)))

extern OmenFilterColumns *omendb_filter_columns(Relation index,
												 int signature_bits);
extern OmenFilterColumns *omendb_check_filter_columns(Relation index);
extern void omendb_filter_labels(const OmenFilterColumns *fc,
								 const Datum *values, const bool *isnull,
								 uint64 *labels);
extern void omendb_filter_prepare(const OmenFilterColumns *fc,
								  ScanKey keys, int nkeys, OmenFilter *filter);
extern bool omendb_filter_match(const OmenFilter *filter,
								const uint64 *labels);
extern void omendb_filter_match_columns(const OmenFilter *filter,
										const uint64 *nulls,
										const uint64 *const *columns, int n,
										bool *match);

#endif							/* OMENDB_FILTER_H */
