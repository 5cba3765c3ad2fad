/*-------------------------------------------------------------------------
 *
 * omendb_sketch.h
 *	  Distance sketches: a few bytes per node slot in the label directory
 *	  that bound a row's distance from below without reading its node
 *	  (README.omendb, "Distance sketches").
 *
 *-------------------------------------------------------------------------
 */
#ifndef OMENDB_SKETCH_H
#define OMENDB_SKETCH_H

#include "omendb.h"

#include "common/relpath.h"
#include "storage/block.h"
#include "utils/relcache.h"

/* Words of sketch a build gives each entry, where the index takes one. */
#define OMENDB_SKETCH_WORDS			2
#define OMENDB_SKETCH_MAX_WORDS		2

/* Directions a sketch of so many words projects on: a byte each, and one for the rest. */
#define OmenSketchDirections(words)	((int) (words) * 8 - 1)
#define OMENDB_SKETCH_MAX_DIRECTIONS OmenSketchDirections(OMENDB_SKETCH_MAX_WORDS)

/* Cells of a projection or of the remainder's length: one byte. */
#define OMENDB_SKETCH_CELLS			256

/*
 * A sketch as a backend uses it, in one chunk without pointers: the mean,
 * then the directions (orthonormal, in double: re-orthonormalized from the
 * floats on the pages, the same way by every reader), and the cells.
 */
typedef struct OmenSketch
{
	Size		size;			/* of the whole chunk */
	int			words;			/* sketch words an entry carries */
	int			directions;		/* OmenSketchDirections(words) */
	int			dims;			/* dimensions of the indexed vectors */
	double		lower[OMENDB_SKETCH_MAX_DIRECTIONS];	/* where direction
														 * i's cell 1 starts */
	double		step[OMENDB_SKETCH_MAX_DIRECTIONS]; /* width of its cells */
	double		rest_step;		/* width of the remainder's cells, from 0 */
	double		data[FLEXIBLE_ARRAY_MEMBER];	/* mean[dims], then
												 * directions[directions][dims] */
} OmenSketch;

/*
 * A query, projected as the rows are: for each direction and the
 * remainder, the square of its gap to each cell.
 */
typedef struct OmenSketchQuery
{
	int			bytes;			/* directions, and one for the remainder */
	double		gap2[OMENDB_SKETCH_MAX_DIRECTIONS + 1][OMENDB_SKETCH_CELLS];
	double		scale;			/* |q - mean|: for the rounding slack */
	double		shrink;			/* 1 less the executor's relative rounding */
	double		tiny;			/* the executor's absolute rounding */
} OmenSketchQuery;

extern bool omendb_sketch_possible(OmenMetric metric, int label_size);
extern BlockNumber omendb_sketch_blocks(int words, int dims);
extern char *omendb_sketch_train(const float *sample, int n, int dims,
								 const float *mean, int words, Size *size);
extern OmenSketch *omendb_sketch_from_image(const char *image, Size size,
											int words, int dims,
											char **problem);
extern void omendb_write_sketch_pages(Relation index, const char *image,
									  Size size, BlockNumber first,
									  ForkNumber fork, bool use_wal);
extern OmenSketch *omendb_read_sketch(Relation index,
									  const OmenMetaPageData *meta);
extern BlockNumber omendb_sketch_first_block(const OmenMetaPageData *meta);
extern void omendb_sketch_encode(const OmenSketch *sk, const float *x,
								 uint64 *words);
extern void omendb_sketch_query(const OmenSketch *sk, const float *q,
								OmenSketchQuery *sq);
extern double omendb_sketch_bound(const OmenSketchQuery *sq,
								  const uint64 *words);

#endif							/* OMENDB_SKETCH_H */
