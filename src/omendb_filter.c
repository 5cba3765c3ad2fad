/*-------------------------------------------------------------------------
 *
 * omendb_filter.c
 *	  Filter columns: labels on the nodes, and the scan keys that test them.
 *
 * An index's key columns after the vector are filter columns.  Each node
 * carries one 64-bit label per filter column and a word of NULL flags
 * (omendb_filter.h); a scan turns its quals on those columns into words of
 * the same kind once, and the graph walk tests every node it meets against
 * them, returning only the nodes that match while still walking through
 * the others (README.omendb, "Filter columns").
 *
 * Everything here that looks in the catalogs (type caches, hash functions)
 * runs before a buffer is locked: labels are computed from a row's values
 * before its node is written, keys at rescan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "omendb_filter.h"
#include "omendb_metric.h"
#include "omendb_page.h"

/* Whether a (base) type's values are labelled by their integer value. */
static bool
is_integer_type(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case BOOLOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return true;
		default:
			return false;
	}
}

/* The int64 a value of an integer type stands for, in the type's order. */
static int64
integer_word(Oid typid, Datum value)
{
	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		case INT8OID:
			return DatumGetInt64(value);
		case BOOLOID:
			return DatumGetBool(value) ? 1 : 0;
		case DATEOID:
			return DatumGetDateADT(value);
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return DatumGetTimestamp(value);
		default:
			elog(ERROR, "omendb: type %u is not an integer filter type", typid);
			return 0;			/* keep compiler quiet */
	}
}

/*
 * The extended hash function of a type, for its labels, or an error naming
 * the column that cannot be a filter column without one.
 */
static void
lookup_hash(Relation index, int attno, Oid typid, FmgrInfo *hash)
{
	TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_HASH_EXTENDED_PROC_FINFO);

	if (!OidIsValid(tce->hash_extended_proc_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("omendb index \"%s\" cannot filter on column %d of type %s",
						RelationGetRelationName(index), attno,
						format_type_be(typid)),
				 errdetail("The type has no extended hash function.")));
	fmgr_info_copy(hash, &tce->hash_extended_proc_finfo, CurrentMemoryContext);
}

/*
 * The filter columns of an index, with what labelling them takes: arrays'
 * elements set signature_bits bits each, as the index's meta page says.
 * Looks in the catalogs: call before locking any buffer.
 */
OmenFilterColumns *
omendb_filter_columns(Relation index, int signature_bits)
{
	int			natts = IndexRelationGetNumberOfKeyAttributes(index);
	OmenFilterColumns *fc;

	fc = palloc0(offsetof(OmenFilterColumns, columns) +
				 sizeof(OmenFilterColumn) * Max(natts - 1, 0));
	fc->ncolumns = Max(natts - 1, 0);
	for (int i = 0; i < fc->ncolumns; i++)
	{
		OmenFilterColumn *col = &fc->columns[i];
		int			attno = i + 2;
		Oid			base;

		col->typid = TupleDescAttr(RelationGetDescr(index), attno - 1)->atttypid;
		col->collation = index->rd_indcollation[attno - 1];
		base = getBaseType(col->typid);
		col->elemtype = get_element_type(base);
		if (OidIsValid(col->elemtype))
		{
			col->kind = OMENDB_FILTER_SIGNATURE;
			col->signature_bits = signature_bits;
			get_typlenbyvalalign(col->elemtype, &col->elmlen, &col->elmbyval,
								 &col->elmalign);
			lookup_hash(index, attno, col->elemtype, &col->hash);
		}
		else if (is_integer_type(base))
		{
			col->kind = OMENDB_FILTER_INTEGER;
			col->typid = base;
		}
		else
		{
			col->kind = OMENDB_FILTER_HASH;
			lookup_hash(index, attno, base, &col->hash);
		}
	}
	return fc;
}

/*
 * Refuse an index whose first column is not a vector with a metric, or
 * whose other columns are: the graph is built on the first column, the
 * others are filter columns (their operator classes have no metric).
 * Returns the filter columns, labelled as a new build labels them.
 */
OmenFilterColumns *
omendb_check_filter_columns(Relation index)
{
	int			natts = IndexRelationGetNumberOfKeyAttributes(index);

	if (!OidIsValid(index_getprocid(index, 1, OMENDB_METRIC_PROC)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("the first column of omendb index \"%s\" must be a vector column with a distance operator class",
						RelationGetRelationName(index)),
				 errhint("Put the vector column first, e.g. (embedding vector_l2_ops, category).")));
	for (int attno = 2; attno <= natts; attno++)
		if (OidIsValid(index_getprocid(index, attno, OMENDB_METRIC_PROC)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("omendb index \"%s\" has more than one vector column",
							RelationGetRelationName(index)),
					 errdetail("Column %d has a distance operator class; only the first column may.",
							   attno)));
	return omendb_filter_columns(index, OMENDB_SIGNATURE_BITS);
}

/*
 * The label bits of one (non-NULL) array element: bit h % 64 of its hash
 * h, and with two bits a second from the next six bits of h.
 */
static inline uint64
element_bits(const OmenFilterColumn *col, Datum elem)
{
	uint64		h = DatumGetUInt64(FunctionCall2Coll((FmgrInfo *) &col->hash,
													 col->collation, elem,
													 Int64GetDatum(0)));
	uint64		bits = UINT64CONST(1) << (h % 64);

	if (col->signature_bits > 1)
		bits |= UINT64CONST(1) << ((h >> 6) % 64);
	return bits;
}

/*
 * The signature of an array: the union of its non-NULL elements' bits.  A
 * superset test on signatures is necessary for the array operators, never
 * sufficient.  With elem_words, each element's bits are also appended
 * there (*nwords of them so far): what an overlap tests, one element at a
 * time.
 */
static uint64
array_signature(const OmenFilterColumn *col, Datum value,
				uint64 *elem_words, int *nwords)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint64		sig = 0;

	deconstruct_array(arr, col->elemtype, col->elmlen, col->elmbyval,
					  col->elmalign, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		uint64		bits;

		if (nulls[i])
			continue;
		bits = element_bits(col, elems[i]);
		sig |= bits;
		if (elem_words)
			elem_words[(*nwords)++] = bits;
	}
	return sig;
}

/* How many elements an array has, NULLs included. */
static int
array_elements(Datum value)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);

	return ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
}

/* The label of a non-NULL value of a filter column. */
static uint64
value_word(const OmenFilterColumn *col, Oid typid, Datum value)
{
	switch (col->kind)
	{
		case OMENDB_FILTER_INTEGER:
			return (uint64) integer_word(typid, value);
		case OMENDB_FILTER_HASH:
			return DatumGetUInt64(FunctionCall2Coll((FmgrInfo *) &col->hash,
													col->collation, value,
													Int64GetDatum(0)));
		case OMENDB_FILTER_SIGNATURE:
			return array_signature(col, value, NULL, NULL);
	}
	return 0;					/* keep compiler quiet */
}

/*
 * The labels of a row: values and isnull are the filter columns' (the
 * index's columns from the second on).  Detoasts: call before locking any
 * buffer.
 */
void
omendb_filter_labels(const OmenFilterColumns *fc, const Datum *values,
					 const bool *isnull, uint64 *labels)
{
	labels[0] = 0;
	for (int i = 0; i < fc->ncolumns; i++)
	{
		const OmenFilterColumn *col = &fc->columns[i];

		if (isnull[i])
		{
			/* (label 0: omendb_filter_match_columns relies on it) */
			labels[0] |= UINT64CONST(1) << i;
			labels[1 + i] = 0;
		}
		else
			labels[1 + i] = value_word(col, col->typid, values[i]);
	}
}

/*
 * The words of a scan key's constant (one, or an = ANY array's non-NULL
 * elements).  Cross-type integer operators give the constant a type of
 * its own (sk_subtype).  An overlap on a signature gets a word for each
 * element of its array: a row may overlap it only if its signature holds
 * all of some element's bits.
 */
static void
key_words(const OmenFilterColumn *col, ScanKey key, OmenFilterKey *fk)
{
	Oid			typid = col->typid;
	bool		by_element = col->kind == OMENDB_FILTER_SIGNATURE &&
		key->sk_strategy == OMENDB_FILTER_OVERLAP;
	Datum	   *values = &key->sk_argument;
	int			nvalues = 1;
	int			cap = 0;

	if (col->kind == OMENDB_FILTER_INTEGER && OidIsValid(key->sk_subtype))
		typid = getBaseType(key->sk_subtype);

	if (key->sk_flags & SK_SEARCHARRAY)
	{
		ArrayType  *arr = DatumGetArrayTypeP(key->sk_argument);
		int16		elmlen;
		bool		elmbyval;
		char		elmalign;
		bool	   *nulls;
		int			n;

		get_typlenbyvalalign(ARR_ELEMTYPE(arr), &elmlen, &elmbyval, &elmalign);
		deconstruct_array(arr, ARR_ELEMTYPE(arr), elmlen, elmbyval, elmalign,
						  &values, &nulls, &n);
		nvalues = 0;
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				values[nvalues++] = values[i];
	}

	for (int i = 0; i < nvalues; i++)
		cap += by_element ? array_elements(values[i]) : 1;
	fk->words = palloc(sizeof(uint64) * Max(cap, 1));
	fk->nwords = 0;
	for (int i = 0; i < nvalues; i++)
	{
		if (by_element)
			(void) array_signature(col, values[i], fk->words, &fk->nwords);
		else
			fk->words[fk->nwords++] = value_word(col, typid, values[i]);
	}
}

/* Whether labels of a kind can answer a strategy without losing rows. */
static bool
strategy_fits(OmenFilterKind kind, int strategy)
{
	switch (kind)
	{
		case OMENDB_FILTER_INTEGER:
			return strategy >= OMENDB_FILTER_LT && strategy <= OMENDB_FILTER_GT;
		case OMENDB_FILTER_HASH:
			return strategy == OMENDB_FILTER_EQ;
		case OMENDB_FILTER_SIGNATURE:
			return strategy == OMENDB_FILTER_EQ ||
				strategy >= OMENDB_FILTER_OVERLAP;
	}
	return false;
}

/*
 * Turn a scan's keys on filter columns into a filter; keys on the vector
 * column (the radius's) are the caller's.  Looks in the catalogs and
 * detoasts: call at rescan.
 */
void
omendb_filter_prepare(const OmenFilterColumns *fc, ScanKey keys, int nkeys,
					  OmenFilter *filter)
{
	filter->nkeys = 0;
	filter->keys = palloc(sizeof(OmenFilterKey) * Max(nkeys, 1));
	filter->lossy = false;
	filter->impossible = false;
	for (int i = 0; i < nkeys; i++)
	{
		ScanKey		key = &keys[i];
		OmenFilterKey *fk;
		const OmenFilterColumn *col;

		if (key->sk_attno < 2)
			continue;
		if (key->sk_attno - 2 >= fc->ncolumns ||
			key->sk_strategy < 1 || key->sk_strategy > OMENDB_FILTER_STRATEGIES)
			elog(ERROR, "omendb: unexpected scan key on column %d with strategy %d",
				 key->sk_attno, key->sk_strategy);
		/* every filter operator is strict: a NULL constant matches nothing */
		if (key->sk_flags & SK_ISNULL)
		{
			filter->impossible = true;
			continue;
		}
		col = &fc->columns[key->sk_attno - 2];
		if (!strategy_fits(col->kind, key->sk_strategy))
			elog(ERROR, "omendb: strategy %d does not apply to filter column %d",
				 key->sk_strategy, key->sk_attno);
		fk = &filter->keys[filter->nkeys++];
		fk->column = key->sk_attno - 2;
		fk->strategy = key->sk_strategy;
		key_words(col, key, fk);
		if (fk->nwords == 0)
			filter->impossible = true;
		if (col->kind != OMENDB_FILTER_INTEGER)
			filter->lossy = true;
	}
}

/*
 * Whether a label passes one word of a key: necessary, and for exact
 * labels sufficient.
 */
static inline bool
word_matches(int strategy, uint64 label, uint64 word)
{
	switch (strategy)
	{
		case OMENDB_FILTER_LT:
			return (int64) label < (int64) word;
		case OMENDB_FILTER_LE:
			return (int64) label <= (int64) word;
		case OMENDB_FILTER_EQ:
			return label == word;
		case OMENDB_FILTER_GE:
			return (int64) label >= (int64) word;
		case OMENDB_FILTER_GT:
			return (int64) label > (int64) word;
		case OMENDB_FILTER_OVERLAP:
			/* word: the bits of one element of the constant */
			return (label & word) == word;
		case OMENDB_FILTER_CONTAINS:
			return (label & word) == word;
		case OMENDB_FILTER_CONTAINED:
			return (label & ~word) == 0;
	}
	return true;				/* keep compiler quiet */
}

/*
 * Whether a node's labels may satisfy every key of the filter: false only
 * if some key certainly rejects the row.
 */
bool
omendb_filter_match(const OmenFilter *filter, const uint64 *labels)
{
	for (int i = 0; i < filter->nkeys; i++)
	{
		const OmenFilterKey *fk = &filter->keys[i];
		uint64		label = labels[1 + fk->column];
		bool		any = false;

		if (labels[0] & (UINT64CONST(1) << fk->column))
			return false;
		for (int j = 0; j < fk->nwords && !any; j++)
			any = word_matches(fk->strategy, label, fk->words[j]);
		if (!any)
			return false;
	}
	return true;
}

/*
 * omendb_filter_match over n rows stored by column, as the label directory
 * holds them: nulls[i] is row i's word 0, columns[c][i] its label of
 * filter column c.  Clears match[i] for each row that some key certainly
 * rejects; leaves the others as they were.
 */
void
omendb_filter_match_columns(const OmenFilter *filter, const uint64 *nulls,
							const uint64 *const *columns, int n, bool *match)
{
	for (int k = 0; k < filter->nkeys; k++)
	{
		const OmenFilterKey *fk = &filter->keys[k];
		const uint64 *label = columns[fk->column];
		uint64		nullbit = UINT64CONST(1) << fk->column;

		if (fk->strategy == OMENDB_FILTER_EQ && fk->nwords == 1)
		{
			/*
			 * The common case, in loops the compiler can vectorize.  A NULL
			 * column's label is 0, so only = 0 need read the NULL words.
			 */
			uint64		word = fk->words[0];

			if (word != 0)
				for (int i = 0; i < n; i++)
					match[i] &= label[i] == word;
			else
				for (int i = 0; i < n; i++)
					match[i] &= (label[i] == word) & ((nulls[i] & nullbit) == 0);
			continue;
		}
		for (int i = 0; i < n; i++)
		{
			bool		any = false;

			if (!match[i])
				continue;
			if (nulls[i] & nullbit)
			{
				match[i] = false;
				continue;
			}
			for (int j = 0; j < fk->nwords && !any; j++)
				any = word_matches(fk->strategy, label[i], fk->words[j]);
			match[i] = any;
		}
	}
}
