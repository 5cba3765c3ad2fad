/*-------------------------------------------------------------------------
 *
 * vector.c
 *	  The vector type: I/O, type modifier, operators, functions, aggregates
 *	  and casts.
 *
 * Every vector that leaves this file has 1..VECTOR_MAX_DIM finite elements
 * and unused == 0: input, receive, casts and arithmetic all check, so the
 * rest of the code (and the index) may rely on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "distance.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "vector.h"

PG_MODULE_MAGIC;

/* Like scanner_isspace: the whitespace allowed around brackets and commas */
static inline bool
vector_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

/*
 * Allocate a zeroed vector of the given dimension in CurrentMemoryContext.
 */
Vector *
InitVector(int dim)
{
	Size		size = VECTOR_SIZE(dim);
	Vector	   *result = (Vector *) palloc0(size);

	SET_VARSIZE(result, size);
	result->dim = dim;
	return result;
}

/*
 * Raise an error unless dim is a valid number of dimensions.
 */
void
CheckVectorDim(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));
	if (dim > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions",
						VECTOR_MAX_DIM)));
}

/*
 * Raise an error unless value may be stored in a vector: distances are
 * meaningless with NaN or infinite coordinates.
 */
void
CheckVectorElement(float value)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in vector")));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in vector")));
}

/*
 * Raise an error unless both vectors have the same dimension.
 */
void
CheckVectorDimsMatch(const Vector *a, const Vector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d",
						a->dim, b->dim)));
}

/*
 * Raise an error unless dim satisfies the type modifier (-1: any).
 */
static void
CheckExpectedDim(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

/*
 * Raise an error if an arithmetic result overflowed to infinity.  The
 * operands are finite (every vector is), so an infinite result always means
 * overflow.
 */
static inline void
CheckOverflow(float result)
{
	if (unlikely(isinf(result)))
		float_overflow_error();
}

/* Detail for a literal that ends before its closing bracket */
#define UNTERMINATED "Vector contents must end with \"]\"."

/* Report a malformed vector literal, optionally with a detail message */
static OMENDB_NORETURN void
vector_syntax_error(const char *literal, const char *detail);

static void
vector_syntax_error(const char *literal, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type vector: \"%s\"", literal),
			 detail ? errdetail_internal("%s", detail) : 0));
}

/*
 * Parse one element at *pos (leading whitespace allowed), advance *pos past
 * it and return it.
 */
static float
parse_vector_element(const char *literal, const char **pos)
{
	const char *start = *pos;
	char	   *end;
	float		value;

	/*
	 * strtof rather than strtod, like float4in: rounding through double
	 * could give a different float.  LC_NUMERIC is always C in the backend.
	 */
	errno = 0;
	value = strtof(start, &end);
	if (end == start)
	{
		const char *rest = start;

		while (vector_isspace(*rest))
			rest++;
		vector_syntax_error(literal, *rest == '\0' ? UNTERMINATED : NULL);
	}

	/* Overflow; underflow to zero or a denormal is accepted */
	if (errno == ERANGE && isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type vector",
						pnstrdup(start, end - start))));

	/* "nan", "inf" and "infinity" are numbers to strtof */
	CheckVectorElement(value);

	*pos = end;
	return value;
}

/*
 * vector_in: parse '[x1, x2, ...]'.
 *
 * Elements are collected in an array grown by doubling, so a huge literal
 * costs nothing before it is rejected at element VECTOR_MAX_DIM + 1.
 */
PG_FUNCTION_INFO_V1(vector_in);
Datum
vector_in(PG_FUNCTION_ARGS)
{
	char	   *literal = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	const char *p = literal;
	float	   *elems;
	int			capacity = 64;
	int			dim = 0;
	Vector	   *result;

	while (vector_isspace(*p))
		p++;
	if (*p != '[')
		vector_syntax_error(literal,
							"Vector contents must start with \"[\".");
	p++;
	while (vector_isspace(*p))
		p++;

	elems = palloc(sizeof(float) * capacity);

	/* "[]": no elements, rejected by CheckVectorDim below */
	if (*p == ']')
		p++;
	else
	{
		for (;;)
		{
			float		value = parse_vector_element(literal, &p);

			if (dim == VECTOR_MAX_DIM)
				CheckVectorDim(dim + 1);
			if (dim == capacity)
			{
				capacity = Min(capacity * 2, VECTOR_MAX_DIM);
				elems = repalloc(elems, sizeof(float) * capacity);
			}
			elems[dim++] = value;

			while (vector_isspace(*p))
				p++;
			if (*p == ',')
				p++;
			else if (*p == ']')
			{
				p++;
				break;
			}
			else if (*p == '\0')
				vector_syntax_error(literal, UNTERMINATED);
			else
				vector_syntax_error(literal, NULL);
		}
	}

	while (vector_isspace(*p))
		p++;
	if (*p != '\0')
		vector_syntax_error(literal, "Junk after closing right bracket.");

	CheckVectorDim(dim);
	CheckExpectedDim(typmod, dim);

	result = InitVector(dim);
	memcpy(result->x, elems, sizeof(float) * dim);
	pfree(elems);

	PG_RETURN_VECTOR_P(result);
}

/*
 * vector_out: '[x1,x2,...]' with each element in the shortest form that
 * reads back as the same float.
 */
PG_FUNCTION_INFO_V1(vector_out);
Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	char	   *buf;
	char	   *p;

	/* Each element takes at most FLOAT_SHORTEST_DECIMAL_LEN - 1 characters */
	buf = palloc(v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 3);
	p = buf;
	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(v->x[i], p);
	}
	*p++ = ']';
	*p = '\0';

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

/*
 * vector_typmod_in: vector(n), 1 <= n <= VECTOR_MAX_DIM.
 */
PG_FUNCTION_INFO_V1(vector_typmod_in);
Datum
vector_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *tl;
	int			n;

	tl = ArrayGetIntegerTypmods(ta, &n);

	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier"),
				 errdetail("Type vector takes exactly one modifier, the number of dimensions.")));
	if (tl[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector must be at least 1")));
	if (tl[0] > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector cannot exceed %d",
						VECTOR_MAX_DIM)));

	PG_RETURN_INT32(tl[0]);
}

/*
 * vector_recv: int16 dim, int16 unused (zero), dim big-endian float4s.
 *
 * The bytes come straight from a client, so they get every check the text
 * form gets.
 */
PG_FUNCTION_INFO_V1(vector_recv);
Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim;
	int16		unused;
	Vector	   *result;

	dim = (int16) pq_getmsgint(buf, sizeof(int16));
	unused = (int16) pq_getmsgint(buf, sizeof(int16));

	CheckVectorDim(dim);
	CheckExpectedDim(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary data for type vector"),
				 errdetail("The unused field must be 0, not %d.", unused)));

	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		CheckVectorElement(result->x[i]);
	}

	PG_RETURN_VECTOR_P(result);
}

/*
 * vector_send: the format vector_recv reads.
 */
PG_FUNCTION_INFO_V1(vector_send);
Datum
vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);

	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * vector(vector, typmod, explicit): the length coercion cast, which
 * enforces vector(n) on assignment.
 */
PG_FUNCTION_INFO_V1(vector);
Datum
vector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	CheckExpectedDim(typmod, v->dim);

	PG_RETURN_VECTOR_P(v);
}

/*
 * Convert one array element of type elemtype to a vector coordinate.
 */
static float
array_element_to_float(Datum elem, Oid elemtype)
{
	float		value;

	switch (elemtype)
	{
		case INT4OID:
			/* Large integers round to the nearest float; never overflows */
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
			/* numeric_float4 raises the out-of-range errors itself */
			value = DatumGetFloat4(DirectFunctionCall1(numeric_float4, elem));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("cannot cast an array of type %s to vector",
							format_type_be(elemtype))));
			value = 0;			/* keep compiler quiet */
	}

	CheckVectorElement(value);
	return value;
}

/*
 * array_to_vector: the casts from integer[], real[], double precision[] and
 * numeric[].
 */
PG_FUNCTION_INFO_V1(array_to_vector);
Datum
array_to_vector(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	int			nelems;
	Vector	   *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot cast a multidimensional array to vector")));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cannot cast an array containing nulls to vector")));

	/* Check the size before deconstructing: the array may be huge */
	CheckVectorDim(ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  &elems, NULL, &nelems);
	CheckExpectedDim(typmod, nelems);

	result = InitVector(nelems);
	for (int i = 0; i < nelems; i++)
		result->x[i] = array_element_to_float(elems[i], elemtype);

	PG_RETURN_VECTOR_P(result);
}

/*
 * vector_to_float4: the cast to real[].
 */
PG_FUNCTION_INFO_V1(vector_to_float4);
Datum
vector_to_float4(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		elems[i] = Float4GetDatum(v->x[i]);
	result = construct_array(elems, v->dim, FLOAT4OID,
							 sizeof(float4), true, TYPALIGN_INT);

	PG_RETURN_ARRAYTYPE_P(result);
}

/*
 * Double-precision versions of the kernels.  The float kernels can overflow
 * to infinity (or, for the inner product, to NaN) on elements beyond about
 * 1e19 even when the double result is finite; the SQL functions fall back
 * to these in that rare case.
 */
static double
l2_squared_double(const Vector *a, const Vector *b)
{
	double		sum = 0.0;

	for (int i = 0; i < a->dim; i++)
	{
		double		d = (double) a->x[i] - b->x[i];

		sum += d * d;
	}
	return sum;
}

static double
inner_product_double(const Vector *a, const Vector *b)
{
	double		sum = 0.0;

	for (int i = 0; i < a->dim; i++)
		sum += (double) a->x[i] * b->x[i];
	return sum;
}

static double
l1_double(const Vector *a, const Vector *b)
{
	double		sum = 0.0;

	for (int i = 0; i < a->dim; i++)
		sum += fabs((double) a->x[i] - b->x[i]);
	return sum;
}

static double
norm_double(const Vector *a)
{
	double		sum = 0.0;

	for (int i = 0; i < a->dim; i++)
		sum += (double) a->x[i] * a->x[i];
	return sqrt(sum);
}

/* sum((a[i] - b[i])^2), widened to double */
static double
l2_squared(const Vector *a, const Vector *b)
{
	float		r = vec_l2_squared(a->x, b->x, a->dim);

	return isinf(r) ? l2_squared_double(a, b) : (double) r;
}

/* sum(a[i] * b[i]), widened to double */
static double
inner_product_internal(const Vector *a, const Vector *b)
{
	float		r = vec_inner_product(a->x, b->x, a->dim);

	return isfinite(r) ? (double) r : inner_product_double(a, b);
}

PG_FUNCTION_INFO_V1(l2_distance);
Datum
l2_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_CACHED(0);
	Vector	   *b = PG_GETARG_VECTOR_CACHED(1);

	CheckVectorDimsMatch(a, b);
	PG_RETURN_FLOAT8(sqrt(l2_squared(a, b)));
}

/*
 * vector_l2_squared_distance: l2_distance without the square root, which
 * orders the same.
 */
PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_CACHED(0);
	Vector	   *b = PG_GETARG_VECTOR_CACHED(1);

	CheckVectorDimsMatch(a, b);
	PG_RETURN_FLOAT8(l2_squared(a, b));
}

PG_FUNCTION_INFO_V1(inner_product);
Datum
inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_CACHED(0);
	Vector	   *b = PG_GETARG_VECTOR_CACHED(1);

	CheckVectorDimsMatch(a, b);
	PG_RETURN_FLOAT8(inner_product_internal(a, b));
}

/*
 * vector_negative_inner_product: the <#> operator, negated so that smaller
 * means closer, as for the other distances.
 */
PG_FUNCTION_INFO_V1(vector_negative_inner_product);
Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_CACHED(0);
	Vector	   *b = PG_GETARG_VECTOR_CACHED(1);

	CheckVectorDimsMatch(a, b);
	PG_RETURN_FLOAT8(-inner_product_internal(a, b));
}

/*
 * cosine_distance: 1 - cos(a, b), in [0, 2]; NaN if either vector is zero.
 */
PG_FUNCTION_INFO_V1(cosine_distance);
Datum
cosine_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_CACHED(0);
	Vector	   *b = PG_GETARG_VECTOR_CACHED(1);

	CheckVectorDimsMatch(a, b);
	PG_RETURN_FLOAT8(vec_cosine_distance(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(l1_distance);
Datum
l1_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_CACHED(0);
	Vector	   *b = PG_GETARG_VECTOR_CACHED(1);
	float		r;

	CheckVectorDimsMatch(a, b);
	r = vec_l1(a->x, b->x, a->dim);
	PG_RETURN_FLOAT8(isinf(r) ? l1_double(a, b) : (double) r);
}

PG_FUNCTION_INFO_V1(vector_dims);
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32(a->dim);
}

/*
 * vector_norm: the Euclidean norm, summed in double (it is not a hot path,
 * and a user reading it expects every digit right).
 */
PG_FUNCTION_INFO_V1(vector_norm);
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);

	PG_RETURN_FLOAT8(norm_double(a));
}

/*
 * l2_normalize: a / |a|.  The zero vector has no direction and is returned
 * unchanged.
 */
PG_FUNCTION_INFO_V1(l2_normalize);
Datum
l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	double		norm = norm_double(a);
	Vector	   *result = InitVector(a->dim);

	if (norm > 0.0)
	{
		for (int i = 0; i < a->dim; i++)
			result->x[i] = (float) (a->x[i] / norm);
	}

	PG_RETURN_VECTOR_P(result);
}

/*
 * subvector(v, start, count): count elements from 1-based position start.
 *
 * Like substring, the range [start, start + count) is clipped to the
 * vector; it is an error if nothing is left.
 */
PG_FUNCTION_INFO_V1(subvector);
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int64		first = Max((int64) start, 1);
	int64		end = Min((int64) start + count, (int64) a->dim + 1);
	Vector	   *result;

	/* end - first may be far out of int range: check before narrowing */
	if (end <= first)
		CheckVectorDim(0);

	result = InitVector((int) (end - first));
	memcpy(result->x, a->x + (first - 1), sizeof(float) * result->dim);

	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_add);
Datum
vector_add(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDimsMatch(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
	{
		result->x[i] = a->x[i] + b->x[i];
		CheckOverflow(result->x[i]);
	}

	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_sub);
Datum
vector_sub(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDimsMatch(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
	{
		result->x[i] = a->x[i] - b->x[i];
		CheckOverflow(result->x[i]);
	}

	PG_RETURN_VECTOR_P(result);
}

/*
 * vector_mul: element-wise product.  Like float4mul, a product of nonzero
 * elements that rounds to zero is an underflow error.
 */
PG_FUNCTION_INFO_V1(vector_mul);
Datum
vector_mul(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDimsMatch(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
	{
		result->x[i] = a->x[i] * b->x[i];
		CheckOverflow(result->x[i]);
		if (unlikely(result->x[i] == 0.0f) && a->x[i] != 0.0f && b->x[i] != 0.0f)
			float_underflow_error();
	}

	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_concat);
Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDim(a->dim + b->dim);
	result = InitVector(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(float) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(float) * b->dim);

	PG_RETURN_VECTOR_P(result);
}

/*
 * Btree order: element by element, then a prefix sorts before the longer
 * vector.  The comparison functions free their detoasted copies because a
 * sort calls them many times in one memory context.
 */
static int
vector_cmp_internal(const Vector *a, const Vector *b)
{
	int			dim = Min(a->dim, b->dim);

	for (int i = 0; i < dim; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
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
vector_cmp_args(FunctionCallInfo fcinfo)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	int			cmp = vector_cmp_internal(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return cmp;
}

PG_FUNCTION_INFO_V1(vector_lt);
Datum
vector_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(vector_le);
Datum
vector_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(vector_eq);
Datum
vector_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(vector_ne);
Datum
vector_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(vector_ge);
Datum
vector_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(vector_gt);
Datum
vector_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) > 0);
}

PG_FUNCTION_INFO_V1(vector_cmp);
Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(vector_cmp_args(fcinfo));
}

/*
 * Aggregate state for avg and sum: a float8[] holding the row count, then
 * the running sum of each dimension.  Before the first row it is the
 * initial condition '{0}', the one state without dimensions; the first
 * vector fixes them.  Summing in double keeps avg exact enough for any
 * realistic row count.
 */

/* Report a state array that no aggregate of ours could have made. */
static OMENDB_NORETURN void
invalid_state(const char *detail);

static void
invalid_state(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid state array for vector aggregate"),
			 errdetail_internal("%s", detail)));
}

/*
 * Validate a state array (the functions are callable from SQL with any
 * float8[]), set *dim to its vector dimension (0 for the initial state)
 * and return its elements.  The row count is a whole number, at least 1
 * once there are dimensions; with no rows every sum is 0; sums are finite,
 * as sums of finite floats in double precision always are.
 */
float8 *
CheckStateArray(ArrayType *state, int *dim)
{
	float8	   *s;
	int			n;

	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] < 1 ||
		ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		invalid_state("A state is a one-dimensional float8 array without NULLs: the row count, then the sum of each dimension.");
	n = ARR_DIMS(state)[0] - 1;
	if (n > VECTOR_MAX_DIM)
		invalid_state(psprintf("A state has at most %d sums, one for each dimension of a vector.",
							   VECTOR_MAX_DIM));
	s = (float8 *) ARR_DATA_PTR(state);
	if (!(s[0] >= 0) || isinf(s[0]) || s[0] != floor(s[0]))
		invalid_state(psprintf("The row count %g is not a non-negative whole number.", s[0]));
	if (n == 0 && s[0] != 0)
		invalid_state("The state counts rows but has no sums.");
	for (int i = 1; i <= n; i++)
	{
		if (!isfinite(s[i]))
			invalid_state(psprintf("The sum of dimension %d is %g.", i, s[i]));
		if (s[0] == 0 && s[i] != 0)
			invalid_state("The state counts no rows but has a sum other than 0.");
	}

	*dim = n;
	return s;
}

/* A fresh state array for vectors of dimension dim: all zero */
static ArrayType *
make_state(int dim)
{
	Datum	   *elems = palloc(sizeof(Datum) * (dim + 1));

	for (int i = 0; i <= dim; i++)
		elems[i] = Float8GetDatum(0.0);

	return construct_array(elems, dim + 1, FLOAT8OID,
						   sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* A copy of a state array in CurrentMemoryContext */
static ArrayType *
copy_state(ArrayType *state)
{
	ArrayType  *copy = palloc(VARSIZE(state));

	memcpy(copy, state, VARSIZE(state));
	return copy;
}

/*
 * A state we may modify: the argument itself when called as an aggregate
 * (where the executor owns the state and allows this, as float8_accum
 * relies on), else a copy.
 */
static ArrayType *
writable_state(FunctionCallInfo fcinfo, ArrayType *state)
{
	if (AggCheckCallContext(fcinfo, NULL))
		return state;

	return copy_state(state);
}

/*
 * Add a row of dim floats to an aggregate state, which the avg and sum
 * aggregates of both vector types share; returns the new state.
 */
ArrayType *
VectorAggAccum(FunctionCallInfo fcinfo, ArrayType *state, const float *x,
			   int dim)
{
	int			statedim;
	float8	   *s = CheckStateArray(state, &statedim);

	/* the initial state has no room for the sums */
	if (statedim == 0)
		state = make_state(dim);
	else
	{
		CheckExpectedDim(statedim, dim);
		state = writable_state(fcinfo, state);
	}
	s = (float8 *) ARR_DATA_PTR(state);

	s[0] += 1.0;
	for (int i = 0; i < dim; i++)
		s[i + 1] += x[i];

	return state;
}

PG_FUNCTION_INFO_V1(vector_accum);
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(1);

	PG_RETURN_ARRAYTYPE_P(VectorAggAccum(fcinfo, PG_GETARG_ARRAYTYPE_P(0),
										 v->x, v->dim));
}

/*
 * vector_combine: merge two partial states (parallel aggregation).
 */
PG_FUNCTION_INFO_V1(vector_combine);
Datum
vector_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *state2 = PG_GETARG_ARRAYTYPE_P(1);
	int			dim1;
	int			dim2;
	float8	   *s1 = CheckStateArray(state1, &dim1);
	float8	   *s2 = CheckStateArray(state2, &dim2);

	/* an initial state adds nothing, and fixes no dimensions */
	if (dim2 == 0)
		PG_RETURN_ARRAYTYPE_P(state1);
	if (dim1 == 0)
		PG_RETURN_ARRAYTYPE_P(copy_state(state2));

	CheckExpectedDim(dim1, dim2);
	state1 = writable_state(fcinfo, state1);
	s1 = (float8 *) ARR_DATA_PTR(state1);
	for (int i = 0; i <= dim1; i++)
		s1[i] += s2[i];

	PG_RETURN_ARRAYTYPE_P(state1);
}

/*
 * The final vector of a state: the sums, or with average the sums divided
 * by the row count.  NULL if there were no rows.
 */
static Vector *
state_to_vector(ArrayType *state, bool average)
{
	int			dim;
	float8	   *s = CheckStateArray(state, &dim);
	Vector	   *result;

	if (s[0] == 0.0)
		return NULL;

	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		double		value = average ? s[i + 1] / s[0] : s[i + 1];

		result->x[i] = (float) value;
		if (isinf(result->x[i]) && !isinf(value))
			float_overflow_error();
		CheckVectorElement(result->x[i]);
	}
	return result;
}

PG_FUNCTION_INFO_V1(vector_avg);
Datum
vector_avg(PG_FUNCTION_ARGS)
{
	Vector	   *result = state_to_vector(PG_GETARG_ARRAYTYPE_P(0), true);

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_sum);
Datum
vector_sum(PG_FUNCTION_ARGS)
{
	Vector	   *result = state_to_vector(PG_GETARG_ARRAYTYPE_P(0), false);

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_VECTOR_P(result);
}
