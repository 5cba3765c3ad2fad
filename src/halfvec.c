/*-------------------------------------------------------------------------
 *
 * halfvec.c
 *	  The halfvec type: I/O, type modifier, operators, functions,
 *	  aggregates and casts.
 *
 * Every halfvec that leaves this file has 1..HALFVEC_MAX_DIM finite
 * elements and unused == 0: input, receive, casts and arithmetic all
 * check, so the rest of the code (and the index) may rely on it.
 *
 * Arithmetic is done in float on the exact float values of the halves and
 * rounded once to half; a result beyond the half range is an overflow
 * error, as float4 arithmetic's is beyond the float range.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "distance.h"
#include "fmgr.h"
#include "halfvec.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/varbit.h"
#include "vector.h"

/* Like vector_isspace in vector.c: scanner_isspace's set */
static inline bool
halfvec_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

/*
 * Allocate a zeroed halfvec of the given dimension in CurrentMemoryContext.
 */
HalfVector *
InitHalfVector(int dim)
{
	Size		size = HALFVEC_SIZE(dim);
	HalfVector *result = (HalfVector *) palloc0(size);

	SET_VARSIZE(result, size);
	result->dim = dim;
	return result;
}

static void
CheckHalfvecDim(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("halfvec must have at least 1 dimension")));
	if (dim > HALFVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("halfvec cannot have more than %d dimensions",
						HALFVEC_MAX_DIM)));
}

static void
CheckHalfvecElement(float value)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in halfvec")));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in halfvec")));
}

static void
CheckHalfvecDimsMatch(const HalfVector *a, const HalfVector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different halfvec dimensions %d and %d",
						a->dim, b->dim)));
}

static void
CheckExpectedDim(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/*
 * The half nearest to a finite float, or the out-of-range error naming
 * the value as text (the literal as written, for input).
 */
static half
FloatToHalfChecked(float value, const char *text)
{
	half		h = Float4ToHalf(value);

	if (unlikely((h & 0x7c00) == 0x7c00))
	{
		char		buf[FLOAT_SHORTEST_DECIMAL_LEN];

		if (text == NULL)
		{
			float_to_shortest_decimal_buf(value, buf);
			text = buf;
		}
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type halfvec", text)));
	}
	return h;
}

/*
 * The half nearest to an arithmetic result computed in float from halves:
 * a result beyond the half range is an overflow.
 */
static inline half
ArithmeticResultToHalf(float value)
{
	half		h = Float4ToHalf(value);

	if (unlikely((h & 0x7c00) == 0x7c00))
		float_overflow_error();
	return h;
}

/* The elements of v as floats, in a palloc'd array */
static float *
HalfvecToFloats(const HalfVector *v)
{
	float	   *x = palloc(sizeof(float) * v->dim);

	for (int i = 0; i < v->dim; i++)
		x[i] = HalfToFloat4(v->x[i]);
	return x;
}

/* Detail for a literal that ends before its closing bracket */
#define UNTERMINATED "Vector contents must end with \"]\"."

static OMENDB_NORETURN void
halfvec_syntax_error(const char *literal, const char *detail);

static void
halfvec_syntax_error(const char *literal, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type halfvec: \"%s\"", literal),
			 detail ? errdetail_internal("%s", detail) : 0));
}

/*
 * Parse one element at *pos (leading whitespace allowed), advance *pos past
 * it and return it as a half.  The number is read as a float (as
 * vector_in reads it) and rounded once to half.
 */
static half
parse_halfvec_element(const char *literal, const char **pos)
{
	const char *start = *pos;
	char	   *end;
	float		value;

	errno = 0;
	value = strtof(start, &end);
	if (end == start)
	{
		const char *rest = start;

		while (halfvec_isspace(*rest))
			rest++;
		halfvec_syntax_error(literal, *rest == '\0' ? UNTERMINATED : NULL);
	}

	if (errno == ERANGE && isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type halfvec",
						pnstrdup(start, end - start))));
	CheckHalfvecElement(value);

	*pos = end;
	if (unlikely(fabsf(value) >= 65520.0f))
		return FloatToHalfChecked(value, pnstrdup(start, end - start));
	return Float4ToHalf(value);
}

/*
 * halfvec_in: parse '[x1, x2, ...]', as vector_in does.
 */
PG_FUNCTION_INFO_V1(halfvec_in);
Datum
halfvec_in(PG_FUNCTION_ARGS)
{
	char	   *literal = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	const char *p = literal;
	half	   *elems;
	int			capacity = 64;
	int			dim = 0;
	HalfVector *result;

	while (halfvec_isspace(*p))
		p++;
	if (*p != '[')
		halfvec_syntax_error(literal,
							 "Vector contents must start with \"[\".");
	p++;
	while (halfvec_isspace(*p))
		p++;

	elems = palloc(sizeof(half) * capacity);

	/* "[]": no elements, rejected by CheckHalfvecDim below */
	if (*p == ']')
		p++;
	else
	{
		for (;;)
		{
			half		value = parse_halfvec_element(literal, &p);

			if (dim == HALFVEC_MAX_DIM)
				CheckHalfvecDim(dim + 1);
			if (dim == capacity)
			{
				capacity = Min(capacity * 2, HALFVEC_MAX_DIM);
				elems = repalloc(elems, sizeof(half) * capacity);
			}
			elems[dim++] = value;

			while (halfvec_isspace(*p))
				p++;
			if (*p == ',')
				p++;
			else if (*p == ']')
			{
				p++;
				break;
			}
			else if (*p == '\0')
				halfvec_syntax_error(literal, UNTERMINATED);
			else
				halfvec_syntax_error(literal, NULL);
		}
	}

	while (halfvec_isspace(*p))
		p++;
	if (*p != '\0')
		halfvec_syntax_error(literal, "Junk after closing right bracket.");

	CheckHalfvecDim(dim);
	CheckExpectedDim(typmod, dim);

	result = InitHalfVector(dim);
	memcpy(result->x, elems, sizeof(half) * dim);
	pfree(elems);

	PG_RETURN_HALFVEC_P(result);
}

/*
 * halfvec_out: '[x1,x2,...]' with each element in the shortest form that
 * reads back as the same float (and so as the same half).
 */
PG_FUNCTION_INFO_V1(halfvec_out);
Datum
halfvec_out(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	char	   *buf;
	char	   *p;

	buf = palloc(v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 3);
	p = buf;
	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(HalfToFloat4(v->x[i]), p);
	}
	*p++ = ']';
	*p = '\0';

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

/*
 * halfvec_typmod_in: halfvec(n), 1 <= n <= HALFVEC_MAX_DIM.
 */
PG_FUNCTION_INFO_V1(halfvec_typmod_in);
Datum
halfvec_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);

	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errdetail("Type halfvec takes exactly one modifier, the number of dimensions.")));
	if (tl[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type halfvec must be at least 1")));
	if (tl[0] > HALFVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type halfvec cannot exceed %d",
						HALFVEC_MAX_DIM)));

	PG_RETURN_INT32(tl[0]);
}

/*
 * halfvec_recv: int16 dim, int16 unused (zero), dim big-endian halves.
 * The bytes come straight from a client: NaN and infinities are refused.
 */
PG_FUNCTION_INFO_V1(halfvec_recv);
Datum
halfvec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim;
	int16		unused;
	HalfVector *result;

	dim = (int16) pq_getmsgint(buf, sizeof(int16));
	unused = (int16) pq_getmsgint(buf, sizeof(int16));

	CheckHalfvecDim(dim);
	CheckExpectedDim(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type halfvec"),
				 errdetail("The unused field must be 0, not %d.", unused)));

	result = InitHalfVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (half) pq_getmsgint(buf, sizeof(int16));
		CheckHalfvecElement(HalfToFloat4(result->x[i]));
	}

	PG_RETURN_HALFVEC_P(result);
}

/*
 * halfvec_send: the format halfvec_recv reads.
 */
PG_FUNCTION_INFO_V1(halfvec_send);
Datum
halfvec_send(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendint16(&buf, v->x[i]);

	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * halfvec(halfvec, typmod, explicit): the length coercion cast.
 */
PG_FUNCTION_INFO_V1(halfvec);
Datum
halfvec(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	CheckExpectedDim(typmod, v->dim);

	PG_RETURN_HALFVEC_P(v);
}

/*
 * halfvec_to_vector: exact, since every half is a float.  Also support
 * function 2 of the omendb operator classes for halfvec, through which
 * the index reads every halfvec it indexes or is queried with
 * (omendb_datum_vector).
 */
PG_FUNCTION_INFO_V1(halfvec_to_vector);
Datum
halfvec_to_vector(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Vector	   *result;

	CheckExpectedDim(typmod, v->dim);

	result = InitVector(v->dim);
	for (int i = 0; i < v->dim; i++)
		result->x[i] = HalfToFloat4(v->x[i]);

	PG_RETURN_VECTOR_P(result);
}

/*
 * vector_to_halfvec: each element rounded to the nearest half; one beyond
 * the half range is an error.
 */
PG_FUNCTION_INFO_V1(vector_to_halfvec);
Datum
vector_to_halfvec(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	HalfVector *result;

	CheckExpectedDim(typmod, v->dim);

	result = InitHalfVector(v->dim);
	for (int i = 0; i < v->dim; i++)
		result->x[i] = FloatToHalfChecked(v->x[i], NULL);

	PG_RETURN_HALFVEC_P(result);
}

/*
 * Convert one array element of type elemtype to a float, which the caller
 * rounds to half.  Elements go through float as they do into a vector.
 */
static float
array_element_to_float(Datum elem, Oid elemtype)
{
	float		value;

	switch (elemtype)
	{
		case INT4OID:
			value = (float) DatumGetInt32(elem);
			break;
		case FLOAT4OID:
			value = DatumGetFloat4(elem);
			break;
		case FLOAT8OID:
			{
				float8		d = DatumGetFloat8(elem);

				value = (float) d;
				if (isinf(value) && !isinf(d))
					float_overflow_error();
			}
			break;
		case NUMERICOID:
			value = DatumGetFloat4(DirectFunctionCall1(numeric_float4, elem));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("cannot cast an array of type %s to halfvec",
							format_type_be(elemtype))));
			value = 0;			/* keep compiler quiet */
	}

	CheckHalfvecElement(value);
	return value;
}

/*
 * array_to_halfvec: the casts from integer[], real[], double precision[]
 * and numeric[].
 */
PG_FUNCTION_INFO_V1(array_to_halfvec);
Datum
array_to_halfvec(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	int			nelems;
	HalfVector *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot cast a multidimensional array to halfvec")));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cannot cast an array containing nulls to halfvec")));

	/* Check the size before deconstructing: the array may be huge */
	CheckHalfvecDim(ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, NULL, &nelems);
	CheckExpectedDim(typmod, nelems);

	result = InitHalfVector(nelems);
	for (int i = 0; i < nelems; i++)
		result->x[i] = FloatToHalfChecked(array_element_to_float(elems[i], elemtype),
										  NULL);

	PG_RETURN_HALFVEC_P(result);
}

/*
 * halfvec_to_float4: the cast to real[].
 */
PG_FUNCTION_INFO_V1(halfvec_to_float4);
Datum
halfvec_to_float4(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		elems[i] = Float4GetDatum(HalfToFloat4(v->x[i]));
	result = construct_array(elems, v->dim, FLOAT4OID,
							 sizeof(float4), true, TYPALIGN_INT);

	PG_RETURN_ARRAYTYPE_P(result);
}

/*
 * Distances.  Both operands are widened to float and handed to the float
 * kernels the vector type's distances use, so each result equals the
 * vector distance of the casts, bit for bit (the index's lower bounds are
 * bounds on that).  The vector functions' double fallback for a float sum
 * that overflows is never needed: with |x| <= 65504 and at most 16,000
 * dimensions every sum stays below 3e14.
 *
 * The arguments are read through the detoast cache, which holds any
 * varlena, for the reason vector_detoast.c gives.
 */
#define PG_GETARG_HALFVEC_CACHED(n) \
	((HalfVector *) DatumGetVectorCached(PG_GETARG_DATUM(n)))

/* The two arguments as float arrays of a common dimension *dim */
static void
distance_operands(FunctionCallInfo fcinfo, float **a, float **b, int *dim)
{
	HalfVector *ha = PG_GETARG_HALFVEC_CACHED(0);
	HalfVector *hb = PG_GETARG_HALFVEC_CACHED(1);

	CheckHalfvecDimsMatch(ha, hb);
	*a = HalfvecToFloats(ha);
	*b = HalfvecToFloats(hb);
	*dim = ha->dim;
}

PG_FUNCTION_INFO_V1(halfvec_l2_distance);
Datum
halfvec_l2_distance(PG_FUNCTION_ARGS)
{
	float	   *a;
	float	   *b;
	int			dim;
	double		result;

	distance_operands(fcinfo, &a, &b, &dim);
	result = sqrt((double) vec_l2_squared(a, b, dim));
	pfree(a);
	pfree(b);
	PG_RETURN_FLOAT8(result);
}

PG_FUNCTION_INFO_V1(halfvec_l2_squared_distance);
Datum
halfvec_l2_squared_distance(PG_FUNCTION_ARGS)
{
	float	   *a;
	float	   *b;
	int			dim;
	double		result;

	distance_operands(fcinfo, &a, &b, &dim);
	result = (double) vec_l2_squared(a, b, dim);
	pfree(a);
	pfree(b);
	PG_RETURN_FLOAT8(result);
}

PG_FUNCTION_INFO_V1(halfvec_inner_product);
Datum
halfvec_inner_product(PG_FUNCTION_ARGS)
{
	float	   *a;
	float	   *b;
	int			dim;
	double		result;

	distance_operands(fcinfo, &a, &b, &dim);
	result = (double) vec_inner_product(a, b, dim);
	pfree(a);
	pfree(b);
	PG_RETURN_FLOAT8(result);
}

/* The <#> operator: negated so that smaller means closer */
PG_FUNCTION_INFO_V1(halfvec_negative_inner_product);
Datum
halfvec_negative_inner_product(PG_FUNCTION_ARGS)
{
	float	   *a;
	float	   *b;
	int			dim;
	double		result;

	distance_operands(fcinfo, &a, &b, &dim);
	result = -(double) vec_inner_product(a, b, dim);
	pfree(a);
	pfree(b);
	PG_RETURN_FLOAT8(result);
}

PG_FUNCTION_INFO_V1(halfvec_cosine_distance);
Datum
halfvec_cosine_distance(PG_FUNCTION_ARGS)
{
	float	   *a;
	float	   *b;
	int			dim;
	double		result;

	distance_operands(fcinfo, &a, &b, &dim);
	result = vec_cosine_distance(a, b, dim);
	pfree(a);
	pfree(b);
	PG_RETURN_FLOAT8(result);
}

PG_FUNCTION_INFO_V1(halfvec_l1_distance);
Datum
halfvec_l1_distance(PG_FUNCTION_ARGS)
{
	float	   *a;
	float	   *b;
	int			dim;
	double		result;

	distance_operands(fcinfo, &a, &b, &dim);
	result = (double) vec_l1(a, b, dim);
	pfree(a);
	pfree(b);
	PG_RETURN_FLOAT8(result);
}

PG_FUNCTION_INFO_V1(halfvec_vector_dims);
Datum
halfvec_vector_dims(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_INT32(a->dim);
}

/* The Euclidean norm, summed in double as vector_norm's is */
static double
halfvec_norm(const HalfVector *a)
{
	double		sum = 0.0;

	for (int i = 0; i < a->dim; i++)
	{
		double		x = HalfToFloat4(a->x[i]);

		sum += x * x;
	}
	return sqrt(sum);
}

PG_FUNCTION_INFO_V1(halfvec_l2_norm);
Datum
halfvec_l2_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(halfvec_norm(PG_GETARG_HALFVEC_P(0)));
}

/*
 * halfvec_l2_normalize: a / |a|, each element rounded to half.  The zero
 * vector is returned unchanged.
 */
PG_FUNCTION_INFO_V1(halfvec_l2_normalize);
Datum
halfvec_l2_normalize(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	double		norm = halfvec_norm(a);
	HalfVector *result = InitHalfVector(a->dim);

	if (norm > 0.0)
	{
		for (int i = 0; i < a->dim; i++)
			result->x[i] = Float4ToHalf((float) (HalfToFloat4(a->x[i]) / norm));
	}

	PG_RETURN_HALFVEC_P(result);
}

/*
 * halfvec_subvector: count elements from 1-based position start, clipped to
 * the vector as subvector(vector, ...) clips.
 */
PG_FUNCTION_INFO_V1(halfvec_subvector);
Datum
halfvec_subvector(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int64		first = Max((int64) start, 1);
	int64		end = Min((int64) start + count, (int64) a->dim + 1);
	HalfVector *result;

	if (end <= first)
		CheckHalfvecDim(0);

	result = InitHalfVector((int) (end - first));
	memcpy(result->x, a->x + (first - 1), sizeof(half) * result->dim);

	PG_RETURN_HALFVEC_P(result);
}

PG_FUNCTION_INFO_V1(halfvec_add);
Datum
halfvec_add(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	CheckHalfvecDimsMatch(a, b);
	result = InitHalfVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = ArithmeticResultToHalf(HalfToFloat4(a->x[i]) +
											  HalfToFloat4(b->x[i]));

	PG_RETURN_HALFVEC_P(result);
}

PG_FUNCTION_INFO_V1(halfvec_sub);
Datum
halfvec_sub(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	CheckHalfvecDimsMatch(a, b);
	result = InitHalfVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = ArithmeticResultToHalf(HalfToFloat4(a->x[i]) -
											  HalfToFloat4(b->x[i]));

	PG_RETURN_HALFVEC_P(result);
}

/*
 * halfvec_mul: element-wise product.  A product of nonzero elements that
 * rounds to zero is an underflow error, as in vector_mul.
 */
PG_FUNCTION_INFO_V1(halfvec_mul);
Datum
halfvec_mul(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	CheckHalfvecDimsMatch(a, b);
	result = InitHalfVector(a->dim);
	for (int i = 0; i < a->dim; i++)
	{
		float		x = HalfToFloat4(a->x[i]);
		float		y = HalfToFloat4(b->x[i]);

		result->x[i] = ArithmeticResultToHalf(x * y);
		if (unlikely((result->x[i] & 0x7fff) == 0) && x != 0.0f && y != 0.0f)
			float_underflow_error();
	}

	PG_RETURN_HALFVEC_P(result);
}

PG_FUNCTION_INFO_V1(halfvec_concat);
Datum
halfvec_concat(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	CheckHalfvecDim(a->dim + b->dim);
	result = InitHalfVector(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(half) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(half) * b->dim);

	PG_RETURN_HALFVEC_P(result);
}

/*
 * Btree order: by the elements' values (so 0 and -0 are equal), then a
 * prefix sorts before the longer vector, as for vector.
 */
static int
halfvec_cmp_internal(const HalfVector *a, const HalfVector *b)
{
	int			dim = Min(a->dim, b->dim);

	for (int i = 0; i < dim; i++)
	{
		float		x = HalfToFloat4(a->x[i]);
		float		y = HalfToFloat4(b->x[i]);

		if (x < y)
			return -1;
		if (x > y)
			return 1;
	}
	if (a->dim < b->dim)
		return -1;
	if (a->dim > b->dim)
		return 1;
	return 0;
}

/* Compare the first two arguments, freeing any detoasted copies */
static int
halfvec_cmp_args(FunctionCallInfo fcinfo)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	int			cmp = halfvec_cmp_internal(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return cmp;
}

PG_FUNCTION_INFO_V1(halfvec_lt);
Datum
halfvec_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(halfvec_le);
Datum
halfvec_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(halfvec_eq);
Datum
halfvec_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(halfvec_ne);
Datum
halfvec_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(halfvec_ge);
Datum
halfvec_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(halfvec_gt);
Datum
halfvec_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) > 0);
}

PG_FUNCTION_INFO_V1(halfvec_cmp);
Datum
halfvec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(halfvec_cmp_args(fcinfo));
}

/*
 * halfvec_accum: avg's transition function, on the vector aggregates'
 * float8[] state (so avg(halfvec) shares vector_combine).
 */
PG_FUNCTION_INFO_V1(halfvec_accum);
Datum
halfvec_accum(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(1);
	float	   *x = HalfvecToFloats(v);
	ArrayType  *state;

	state = VectorAggAccum(fcinfo, PG_GETARG_ARRAYTYPE_P(0), x, v->dim);
	pfree(x);

	PG_RETURN_ARRAYTYPE_P(state);
}

/*
 * halfvec_avg: the mean of the rows, rounded to half; NULL if there were
 * none.
 */
PG_FUNCTION_INFO_V1(halfvec_avg);
Datum
halfvec_avg(PG_FUNCTION_ARGS)
{
	int			dim;
	float8	   *s = CheckStateArray(PG_GETARG_ARRAYTYPE_P(0), &dim);
	HalfVector *result;

	if (s[0] == 0.0)
		PG_RETURN_NULL();

	CheckHalfvecDim(dim);
	result = InitHalfVector(dim);
	for (int i = 0; i < dim; i++)
	{
		double		mean = s[i + 1] / s[0];
		float		value = (float) mean;

		if (isinf(value) && !isinf(mean))
			float_overflow_error();
		result->x[i] = ArithmeticResultToHalf(value);
	}

	PG_RETURN_HALFVEC_P(result);
}

/* A zeroed bit string of len bits */
static VarBit *
InitBitString(int len)
{
	Size		size = VARBITTOTALLEN(len);
	VarBit	   *result = (VarBit *) palloc0(size);

	SET_VARSIZE(result, size);
	VARBITLEN(result) = len;
	return result;
}

/*
 * binary_quantize: bit i of the result is set if and only if element i is
 * greater than zero.
 */
PG_FUNCTION_INFO_V1(halfvec_binary_quantize);
Datum
halfvec_binary_quantize(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	VarBit	   *result = InitBitString(a->dim);
	bits8	   *bits = VARBITS(result);

	for (int i = 0; i < a->dim; i++)
	{
		if (HalfToFloat4(a->x[i]) > 0)
			bits[i / BITS_PER_BYTE] |= 0x80 >> (i % BITS_PER_BYTE);
	}

	PG_RETURN_VARBIT_P(result);
}

PG_FUNCTION_INFO_V1(vector_binary_quantize);
Datum
vector_binary_quantize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	VarBit	   *result = InitBitString(a->dim);
	bits8	   *bits = VARBITS(result);

	for (int i = 0; i < a->dim; i++)
	{
		if (a->x[i] > 0)
			bits[i / BITS_PER_BYTE] |= 0x80 >> (i % BITS_PER_BYTE);
	}

	PG_RETURN_VARBIT_P(result);
}
