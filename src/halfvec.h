/*-------------------------------------------------------------------------
 *
 * halfvec.h
 *	  The halfvec type: a varlena of IEEE 754 binary16 elements.
 *
 * The layout is the vector type's with 2-byte elements, and pgvector's: a
 * varlena header, an int16 dimension count, an unused int16 that must be
 * zero, then dim halves.  The binary wire format is int16 dim, int16 zero,
 * then the dim halves' bit patterns as big-endian int16s.
 *
 * Every half converts to a float exactly, so the distance functions widen
 * both operands to float and run the vector type's float kernels: a
 * halfvec distance is, bit for bit, the vector distance of the two values
 * cast to vector.  That is what lets an omendb index over halfvec work on
 * the cast (its operator classes name the cast as support function 2) and
 * keep its lower bounds valid.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_HALFVEC_H
#define OMENDB_HALFVEC_H

#include "postgres.h"

#include "fmgr.h"

/* Largest number of dimensions a halfvec may have (also the typmod limit). */
#define HALFVEC_MAX_DIM 16000

/* The bit pattern of an IEEE 754 binary16 value */
typedef uint16 half;

typedef struct HalfVector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved for future use, always zero */
	half		x[FLEXIBLE_ARRAY_MEMBER];	/* the elements */
} HalfVector;

#define HALFVEC_SIZE(_dim)		(offsetof(HalfVector, x) + sizeof(half) * (_dim))
#define DatumGetHalfVector(x)	((HalfVector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_HALFVEC_P(x)	DatumGetHalfVector(PG_GETARG_DATUM(x))
#define PG_RETURN_HALFVEC_P(x)	PG_RETURN_POINTER(x)

/*
 * The float a half stands for; exact, since every half is a float.  NaN
 * and infinities map to their float counterparts (no halfvec holds them).
 */
static inline float
HalfToFloat4(half h)
{
	uint32		sign = (uint32) (h & 0x8000) << 16;
	uint32		exponent = (h >> 10) & 0x1f;
	uint32		mantissa = h & 0x3ff;
	uint32		bits;
	float		result;

	if (exponent == 0x1f)
		bits = sign | 0x7f800000 | (mantissa << 13);
	else if (exponent != 0)
		bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
	else
	{
		/* zero or subnormal: mantissa units of 2^-24, exact in float */
		result = (float) mantissa * (1.0f / 16777216.0f);
		return sign ? -result : result;
	}
	memcpy(&result, &bits, sizeof(result));
	return result;
}

/*
 * The half nearest to f, ties to even (as the hardware conversions round).
 * A float at or beyond 65520 in magnitude becomes infinity, NaN a quiet
 * NaN; callers check for both.
 */
static inline half
Float4ToHalf(float f)
{
	uint32		bits;
	uint32		sign;
	uint32		magnitude;
	uint32		exponent;
	uint32		mantissa;
	int			shift;
	uint32		h;
	uint32		rest;
	uint32		halfway;

	memcpy(&bits, &f, sizeof(bits));
	sign = (bits >> 16) & 0x8000;
	magnitude = bits & 0x7fffffff;

	if (magnitude > 0x7f800000)
		return (half) (sign | 0x7e00);
	if (magnitude >= 0x477ff000)	/* 65520: halfway to 2^16, rounds up */
		return (half) (sign | 0x7c00);

	exponent = magnitude >> 23;
	mantissa = (magnitude & 0x7fffff) | 0x800000;
	if (exponent >= 127 - 14)
	{
		/* a normal half: drop 13 mantissa bits */
		h = ((exponent - (127 - 15)) << 10) | ((mantissa >> 13) & 0x3ff);
		shift = 13;
	}
	else
	{
		/* a subnormal half (or zero): count units of 2^-24 */
		shift = 126 - (int) exponent;
		if (exponent == 0 || shift > 24)
			return (half) sign;
		h = mantissa >> shift;
	}

	/* round to nearest, ties to even; a carry moves into the exponent */
	rest = mantissa & ((1u << shift) - 1);
	halfway = 1u << (shift - 1);
	if (rest > halfway || (rest == halfway && (h & 1)))
		h++;
	return (half) (sign | h);
}

/* Allocate a zeroed halfvec of the given dimension in CurrentMemoryContext. */
extern HalfVector *InitHalfVector(int dim);

#endif							/* OMENDB_HALFVEC_H */
