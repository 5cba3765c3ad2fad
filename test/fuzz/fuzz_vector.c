/*
 * fuzz_vector.c
 *	  Randomized input test for the omendb `vector` type, over libpq.
 *
 * Sends seeded, deterministic streams of corrupted vector literals as text
 * parameters and corrupted binary payloads as binary parameters to
 * `SELECT $1::vector`, and checks every answer:
 *
 *   - it is either a result or a clean error: PGRES_FATAL_ERROR whose
 *     SQLSTATE is of class 22 (data exception) or 54 (program limit
 *     exceeded); for binary payloads also 08P01 "insufficient data left in
 *     message", which is what PostgreSQL's own pq_getmsg*() raise for every
 *     type when a binary value is too short.  Never XX000, never a lost
 *     connection;
 *   - the decision (accept or reject) agrees with a reference parser of the
 *     pgvector text grammar / binary format written here independently
 *     (reported as its own check, so robustness and grammar are separate);
 *   - an accepted value has the elements the reference parser expects, its
 *     binary output is byte-identical to a valid binary input, and its text
 *     output parses (client-side strtof and server-side vector_in) back to
 *     exactly the same floats.
 *
 * After the run `SELECT 1` must still work and the server log (--log) must
 * not say "terminated by signal" in what was written during the run.
 *
 * Output is TAP: one check per mutation class and direction, so test/run
 * can count it like any other TAP stream.
 *
 * usage: fuzz_vector [--seed N] [--count N] [--log FILE] [conninfo]
 *	  conninfo defaults to "" (libpq environment: PGHOST, PGPORT, ...).
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "libpq-fe.h"

#define VECTOR_MAX_DIM 16000
#define MAX_LIT (VECTOR_MAX_DIM * 24 + 4096)

/* ---------- deterministic RNG (splitmix64; independent of libc) ---------- */

static uint64_t rng_state;

static uint64_t
rnd64(void)
{
	uint64_t	z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* uniform in [0, n) */
static uint32_t
rnd(uint32_t n)
{
	return n ? (uint32_t) (rnd64() % n) : 0;
}

static bool
chance(int percent)
{
	return rnd(100) < (uint32_t) percent;
}

/* ---------- growable byte buffer ---------- */

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_reserve(Buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->cap)
	{
		size_t		ncap = b->cap ? b->cap : 256;

		while (b->len + extra + 1 > ncap)
			ncap *= 2;
		b->data = realloc(b->data, ncap);
		if (!b->data)
		{
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		b->cap = ncap;
	}
}

static void
buf_put(Buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_putc(Buf *b, char c)
{
	buf_put(b, &c, 1);
}

static void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	char		tmp[128];
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_put(b, tmp, n < (int) sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

static void
buf_reset(Buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* ---------- checks ---------- */

typedef struct Check
{
	const char *name;
	long		cases;
	long		accepted;
	long		rejected;
	long		failures;
	char		first_failure[512];
} Check;

static void
check_fail(Check *c, const char *fmt,...)
{
	va_list		ap;

	c->failures++;
	if (c->failures == 1)
	{
		va_start(ap, fmt);
		vsnprintf(c->first_failure, sizeof(c->first_failure), fmt, ap);
		va_end(ap);
	}
}

/* Printable, bounded rendering of an input for diagnostics. */
static const char *
show(const char *p, size_t len)
{
	static char bufs[4][200];
	static int	which;
	char	   *out = bufs[which++ % 4];
	size_t		o = 0;

	for (size_t i = 0; i < len && o < sizeof(bufs[0]) - 8; i++)
	{
		unsigned char ch = (unsigned char) p[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = ch;
		else
			o += snprintf(out + o, sizeof(bufs[0]) - o, "\\x%02x", ch);
	}
	if (len > 0 && o >= sizeof(bufs[0]) - 8)
		o += snprintf(out + o, sizeof(bufs[0]) - o, "...");
	out[o] = '\0';
	return out;
}

/* ---------- connection ---------- */

static const char *conninfo = "";
static PGconn *conn;
static unsigned int vector_oid;

static bool
connect_db(void)
{
	for (int attempt = 0; attempt < 30; attempt++)
	{
		if (conn)
			PQfinish(conn);
		conn = PQconnectdb(conninfo);
		if (PQstatus(conn) == CONNECTION_OK)
			return true;
		usleep(200 * 1000);
	}
	fprintf(stderr, "# cannot connect: %s", PQerrorMessage(conn));
	return false;
}

/* ---------- reference parser of the text form (pgvector grammar) ---------- */

static bool
is_vspace(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
		ch == '\v' || ch == '\f';
}

/*
 * Returns true if lit is a valid vector literal and fills out[]/dim;
 * otherwise false.  The grammar: optional whitespace, '[', one or more
 * strtof() numbers separated by ',' with optional whitespace around them,
 * ']', optional whitespace.  Elements must be finite and not overflow
 * (underflow to zero or a subnormal is accepted, as strtof gives it);
 * 1 <= dim <= VECTOR_MAX_DIM.
 */
static bool
ref_parse_text(const char *lit, float *out, int *dim)
{
	const char *pt = lit;
	int			n = 0;

	while (is_vspace(*pt))
		pt++;
	if (*pt != '[')
		return false;
	pt++;
	for (;;)
	{
		char	   *end;
		float		v;

		if (n == VECTOR_MAX_DIM)
			return false;
		while (is_vspace(*pt))
			pt++;
		if (*pt == '\0')
			return false;
		errno = 0;
		v = strtof(pt, &end);
		if (end == pt)
			return false;
		if (errno == ERANGE && isinf(v))
			return false;
		if (isnan(v) || isinf(v))
			return false;
		out[n++] = v;
		pt = end;
		while (is_vspace(*pt))
			pt++;
		if (*pt == ',')
			pt++;
		else if (*pt == ']')
		{
			pt++;
			break;
		}
		else
			return false;
	}
	while (is_vspace(*pt))
		pt++;
	if (*pt != '\0')
		return false;
	*dim = n;
	return n >= 1;
}

/* ---------- binary helpers ---------- */

static void
put_i16(Buf *b, int v)
{
	uint16_t	n = htons((uint16_t) v);

	buf_put(b, &n, 2);
}

static void
put_f32(Buf *b, float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	u = htonl(u);
	buf_put(b, &u, 4);
}

static float
get_f32(const char *p)
{
	uint32_t	u;
	float		f;

	memcpy(&u, p, 4);
	u = ntohl(u);
	memcpy(&f, &u, 4);
	return f;
}

static int
get_i16(const char *p)
{
	uint16_t	u;

	memcpy(&u, p, 2);
	return (int16_t) ntohs(u);
}

/* Reference decision for a binary payload. */
static bool
ref_valid_binary(const char *p, size_t len)
{
	int			dim;

	if (len < 4)
		return false;
	dim = get_i16(p);
	if (dim < 1 || dim > VECTOR_MAX_DIM)
		return false;
	if (get_i16(p + 2) != 0)
		return false;
	if (len != 4 + 4 * (size_t) dim)
		return false;
	for (int i = 0; i < dim; i++)
	{
		float		f = get_f32(p + 4 + 4 * i);

		if (isnan(f) || isinf(f))
			return false;
	}
	return true;
}

static bool
same_bits(float a, float b)
{
	return memcmp(&a, &b, sizeof(float)) == 0;
}

/*
 * Parse the server's text output strictly: '[' f (',' f)* ']' with no
 * whitespace, and compare the elements bitwise with want[].
 */
static bool
output_matches(const char *txt, size_t len, const float *want, int dim,
			   char *why, size_t whylen)
{
	char	   *copy = malloc(len + 1);
	const char *pt;
	int			n = 0;
	bool		ok = false;

	memcpy(copy, txt, len);
	copy[len] = '\0';
	pt = copy;
	if (*pt++ != '[')
	{
		snprintf(why, whylen, "text output does not start with '['");
		goto done;
	}
	for (;;)
	{
		char	   *end;
		float		v;

		errno = 0;
		v = strtof(pt, &end);
		if (end == pt || is_vspace(*pt))
		{
			snprintf(why, whylen, "unparsable element %d in text output", n);
			goto done;
		}
		if (n >= dim)
		{
			snprintf(why, whylen, "text output has more than %d elements", dim);
			goto done;
		}
		if (!same_bits(v, want[n]))
		{
			snprintf(why, whylen, "element %d: text output gives %.9g, value is %.9g",
					 n, (double) v, (double) want[n]);
			goto done;
		}
		n++;
		pt = end;
		if (*pt == ',')
			pt++;
		else if (*pt == ']' && pt[1] == '\0')
			break;
		else
		{
			snprintf(why, whylen, "bad separator after element %d in text output", n - 1);
			goto done;
		}
	}
	if (n != dim)
		snprintf(why, whylen, "text output has %d elements, value has %d", n, dim);
	else
		ok = true;
done:
	free(copy);
	return ok;
}

/* ---------- running one case ---------- */

static Check c_text_oracle = {.name = "text: accept/reject agrees with the pgvector grammar"};
static Check c_bin_oracle = {.name = "binary: accept/reject agrees with the pgvector wire format"};
static long total_queries;

/*
 * Classify an error result.  Returns NULL if it is a clean error, else a
 * description of what is wrong.
 */
static const char *
bad_error(PGresult *res, bool binary)
{
	static char why[300];
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (!state)
	{
		snprintf(why, sizeof(why), "error without SQLSTATE: %s", PQresultErrorMessage(res));
		return why;
	}
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "54", 2) == 0)
		return NULL;
	if (binary && strcmp(state, "08P01") == 0 && msg &&
		strcmp(msg, "insufficient data left in message") == 0)
		return NULL;
	snprintf(why, sizeof(why), "SQLSTATE %s: %s", state, msg ? msg : "?");
	return why;
}

/*
 * After an accepted value: its text output must parse back, server side, to
 * exactly the same binary value.
 */
static void
check_reparse(Check *c, const char *txt, int txtlen, const char *bin, int binlen,
			  const char *input, size_t inlen)
{
	char	   *copy = malloc(txtlen + 1);
	const char *vals[1];
	int			fmts[1] = {0};
	PGresult   *res;

	memcpy(copy, txt, txtlen);
	copy[txtlen] = '\0';
	vals[0] = copy;
	total_queries++;
	res = PQexecParams(conn, "SELECT $1::vector", 1, NULL, vals, NULL, fmts, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		check_fail(c, "text output %s of input %s does not re-parse: %s",
				   show(copy, txtlen), show(input, inlen), PQresultErrorMessage(res));
	else if (PQgetlength(res, 0, 0) != binlen ||
			 memcmp(PQgetvalue(res, 0, 0), bin, binlen) != 0)
		check_fail(c, "text output %s of input %s re-parses to a different value",
				   show(copy, txtlen), show(input, inlen));
	PQclear(res);
	free(copy);
}

static void
run_text(Check *c, const char *lit)
{
	static float ref[VECTOR_MAX_DIM];
	int			refdim = 0;
	bool		valid = ref_parse_text(lit, ref, &refdim);
	const char *vals[1] = {lit};
	PGresult   *res;
	size_t		len = strlen(lit);

	c->cases++;
	total_queries++;
	/* column 1: text output (text's binary form is its bytes); column 2: binary */
	res = PQexecParams(conn, "SELECT v::text, v FROM (SELECT $1::vector AS v) s",
					   1, NULL, vals, NULL, NULL, 1);
	switch (PQresultStatus(res))
	{
		case PGRES_TUPLES_OK:
			{
				const char *txt = PQgetvalue(res, 0, 0);
				int			txtlen = PQgetlength(res, 0, 0);
				const char *bin = PQgetvalue(res, 0, 1);
				int			binlen = PQgetlength(res, 0, 1);
				char		why[200];
				int			dim;

				c->accepted++;
				if (!valid)
					check_fail(&c_text_oracle, "accepted %s, which the grammar rejects", show(lit, len));
				if (binlen < 4 || !ref_valid_binary(bin, binlen))
				{
					check_fail(c, "input %s gave an invalid binary value", show(lit, len));
					break;
				}
				dim = get_i16(bin);
				if (valid)
				{
					if (dim != refdim)
						check_fail(c, "input %s: %d elements, expected %d", show(lit, len), dim, refdim);
					else
						for (int i = 0; i < dim; i++)
							if (!same_bits(get_f32(bin + 4 + 4 * i), ref[i]))
							{
								check_fail(c, "input %s: element %d is %.9g, strtof gives %.9g",
										   show(lit, len), i,
										   (double) get_f32(bin + 4 + 4 * i), (double) ref[i]);
								break;
							}
				}
				{
					float	   *got = malloc(sizeof(float) * dim);

					for (int i = 0; i < dim; i++)
						got[i] = get_f32(bin + 4 + 4 * i);
					if (!output_matches(txt, txtlen, got, dim, why, sizeof(why)))
						check_fail(c, "input %s: %s", show(lit, len), why);
					free(got);
				}
				check_reparse(c, txt, txtlen, bin, binlen, lit, len);
				break;
			}
		case PGRES_FATAL_ERROR:
			{
				const char *why;

				if (PQstatus(conn) != CONNECTION_OK)
				{
					check_fail(c, "connection lost on input %s: %s", show(lit, len), PQerrorMessage(conn));
					connect_db();
					break;
				}
				c->rejected++;
				if ((why = bad_error(res, false)) != NULL)
					check_fail(c, "input %s: %s", show(lit, len), why);
				else if (valid)
					check_fail(&c_text_oracle, "rejected %s (%s), which the grammar accepts",
							   show(lit, len), PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
				break;
			}
		default:
			check_fail(c, "input %s: unexpected status %s: %s", show(lit, len),
					   PQresStatus(PQresultStatus(res)), PQerrorMessage(conn));
			if (PQstatus(conn) != CONNECTION_OK)
				connect_db();
			break;
	}
	PQclear(res);
}

static void
run_binary(Check *c, const char *payload, size_t len)
{
	bool		valid = ref_valid_binary(payload, len);
	const char *vals[1] = {payload};
	int			lens[1] = {(int) len};
	int			fmts[1] = {1};
	unsigned int types[1] = {vector_oid};
	PGresult   *res;

	c->cases++;
	total_queries++;
	res = PQexecParams(conn, "SELECT v, v::text FROM (SELECT $1::vector AS v) s",
					   1, types, vals, lens, fmts, 1);
	switch (PQresultStatus(res))
	{
		case PGRES_TUPLES_OK:
			{
				const char *bin = PQgetvalue(res, 0, 0);
				int			binlen = PQgetlength(res, 0, 0);
				const char *txt = PQgetvalue(res, 0, 1);
				int			txtlen = PQgetlength(res, 0, 1);
				char		why[200];

				c->accepted++;
				if (!valid)
				{
					check_fail(&c_bin_oracle, "accepted invalid payload %s", show(payload, len));
					break;
				}
				if ((size_t) binlen != len || memcmp(bin, payload, len) != 0)
				{
					check_fail(c, "binary output differs from binary input %s", show(payload, len));
					break;
				}
				{
					int			dim = get_i16(bin);
					float	   *want = malloc(sizeof(float) * dim);

					for (int i = 0; i < dim; i++)
						want[i] = get_f32(bin + 4 + 4 * i);
					if (!output_matches(txt, txtlen, want, dim, why, sizeof(why)))
						check_fail(c, "payload %s: %s", show(payload, len), why);
					free(want);
				}
				check_reparse(c, txt, txtlen, bin, binlen, payload, len);
				break;
			}
		case PGRES_FATAL_ERROR:
			{
				const char *why;

				if (PQstatus(conn) != CONNECTION_OK)
				{
					check_fail(c, "connection lost on payload %s: %s", show(payload, len), PQerrorMessage(conn));
					connect_db();
					break;
				}
				c->rejected++;
				if ((why = bad_error(res, true)) != NULL)
					check_fail(c, "payload %s: %s", show(payload, len), why);
				else if (valid)
					check_fail(&c_bin_oracle, "rejected valid payload %s (%s)", show(payload, len),
							   PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
				break;
			}
		default:
			check_fail(c, "payload %s: unexpected status %s: %s", show(payload, len),
					   PQresStatus(PQresultStatus(res)), PQerrorMessage(conn));
			if (PQstatus(conn) != CONNECTION_OK)
				connect_db();
			break;
	}
	PQclear(res);
}

/* ---------- generators: text ---------- */

/* A random finite float, biased toward interesting values. */
static float
rnd_float(void)
{
	static const float specials[] = {
		0.0f, -0.0f, 1.0f, -1.0f, 0.1f, 0.5f, 1e-38f, 1.17549435e-38f,
		1.4e-45f, -1.4e-45f, 3.4e38f, FLT_MAX, -FLT_MAX, 16777216.0f,
		16777217.0f, 1e-7f, 123456.789f, 3.14159265f,
	};
	uint32_t	u;
	float		f;

	switch (rnd(4))
	{
		case 0:
			return specials[rnd(sizeof(specials) / sizeof(specials[0]))];
		case 1:
			return (float) ((int) rnd(2001) - 1000);
		case 2:
			return (float) (((double) rnd64() / 18446744073709551616.0) * 2.0 - 1.0);
		default:
			do
			{
				u = (uint32_t) rnd64();
				memcpy(&f, &u, 4);
			} while (isnan(f) || isinf(f));
			return f;
	}
}

static void
append_ws(Buf *b)
{
	static const char ws[] = " \t\n\r\v\f";

	if (chance(20))
	{
		int			n = 1 + rnd(3);

		for (int i = 0; i < n; i++)
			buf_putc(b, ws[rnd(6)]);
	}
}

/* Print a float in one of several spellings strtof accepts. */
static void
append_number(Buf *b, float f)
{
	switch (rnd(7))
	{
		case 0:
			buf_printf(b, "%.9g", (double) f);
			break;
		case 1:
			buf_printf(b, "%g", (double) f);
			break;
		case 2:
			buf_printf(b, "%.17e", (double) f);
			break;
		case 3:
			buf_printf(b, "%a", (double) f);
			break;
		case 4:
			buf_printf(b, "%+.9G", (double) f);
			break;
		case 5:
			buf_printf(b, "%.3f", (double) f);
			break;
		default:
			buf_printf(b, "%.9g", (double) f);
			break;
	}
}

/* A valid literal with dim elements (random spellings and whitespace). */
static void
gen_valid_literal(Buf *b, int dim)
{
	buf_reset(b);
	append_ws(b);
	buf_putc(b, '[');
	for (int i = 0; i < dim; i++)
	{
		if (i > 0)
			buf_putc(b, ',');
		append_ws(b);
		append_number(b, rnd_float());
		append_ws(b);
	}
	buf_putc(b, ']');
	append_ws(b);
}

static int
small_dim(void)
{
	return chance(80) ? 1 + rnd(8) : 1 + rnd(200);
}

static const char *const weird_numbers[] = {
	"nan", "NaN", "-nan", "+NaN", "NAN", "nan(0x7fc00001)", "nan()",
	"inf", "-inf", "+inf", "Inf", "INF", "infinity", "-Infinity", "INFINITY",
	"infinit", "in", "na", "1e39", "-1e39", "3.4028236e38", "3.40282357e38",
	"3.5e38", "1e-46", "1e-50", "-1e-50", "1e+2147483648", "1e-2147483649",
	"1e999999999999999999", "1e", "1e+", "e5", ".", "-", "+", "--1", "+-1",
	"0x", "0x1p128", "0x1p-150", "0x1.fffffep127", "0x1p-149", "1.5e-45",
	"0.0000000000000000000000000000000000000000000001", "1,5", "1..5",
	"1e5.5", "0x1g", "\xef\xbc\x91", "1_000", "1'000", "١", "∞",
};

static void
gen_weird_number_literal(Buf *b)
{
	int			dim = small_dim();
	int			target = rnd(dim);

	buf_reset(b);
	buf_putc(b, '[');
	for (int i = 0; i < dim; i++)
	{
		if (i > 0)
			buf_putc(b, ',');
		if (i == target || chance(10))
		{
			const char *w = weird_numbers[rnd(sizeof(weird_numbers) / sizeof(weird_numbers[0]))];

			buf_put(b, w, strlen(w));
		}
		else
			append_number(b, rnd_float());
	}
	buf_putc(b, ']');
}

static void
gen_huge_exponent_literal(Buf *b)
{
	int			dim = small_dim();

	buf_reset(b);
	buf_putc(b, '[');
	for (int i = 0; i < dim; i++)
	{
		if (i > 0)
			buf_putc(b, ',');
		if (chance(50))
		{
			int			kind = rnd(5);

			if (kind == 0)
				buf_printf(b, "%de%d", (int) rnd(10), (int) rnd(100) - 50 + (chance(50) ? 38 : -38));
			else if (kind == 1)
				buf_printf(b, "1e%s%u%u", chance(50) ? "-" : "+", (unsigned) rnd64(), (unsigned) rnd64());
			else if (kind == 2)
				buf_printf(b, "%.9ge%d", (double) rnd_float(), (int) rnd(400) - 200);
			else if (kind == 3)
			{
				/* a very long mantissa */
				int			n = 30 + rnd(400);

				buf_putc(b, chance(50) ? '-' : '1');
				for (int k = 0; k < n; k++)
					buf_putc(b, '0' + rnd(10));
				if (chance(50))
					buf_printf(b, "e-%d", (int) rnd(500));
			}
			else
			{
				buf_put(b, "0.", 2);
				for (int k = 0, n = 30 + rnd(60); k < n; k++)
					buf_putc(b, '0');
				buf_putc(b, '1' + rnd(9));
			}
		}
		else
			append_number(b, rnd_float());
	}
	buf_putc(b, ']');
}

static void
gen_nested_literal(Buf *b)
{
	static const char *const fixed[] = {
		"[[1,2]]", "[[1],[2]]", "[1,[2]]", "[[]]", "[[", "]]", "][", "]1[",
		"[1]]", "[[1]", "[1][2]", "[1],[2]", "{1,2}", "(1,2)", "[1;2]",
		"[1 2]", "[1,2", "1,2]", "[1,2,]", "[,1]", "[1,,2]",
	};
	int			depth;

	buf_reset(b);
	switch (rnd(3))
	{
		case 0:
			{
				const char *f = fixed[rnd(sizeof(fixed) / sizeof(fixed[0]))];

				buf_put(b, f, strlen(f));
				break;
			}
		case 1:
			depth = 1 + rnd(chance(10) ? 5000 : 20);
			for (int i = 0; i < depth; i++)
				buf_putc(b, '[');
			buf_put(b, "1,2", 3);
			for (int i = 0; i < depth - (int) rnd(2); i++)
				buf_putc(b, ']');
			break;
		default:
			{
				/* random bracket/comma soup with some numbers */
				static const char soup[] = "[[[]]],,, 1.-e";
				int			n = 1 + rnd(40);

				for (int i = 0; i < n; i++)
					buf_putc(b, soup[rnd(sizeof(soup) - 1)]);
				break;
			}
	}
}

static void
gen_long_literal(Buf *b)
{
	int			kind = rnd(6);

	buf_reset(b);
	if (kind == 0 || kind == 1)
	{
		/* around the dimension limit */
		int			dim = VECTOR_MAX_DIM - 3 + rnd(7);

		buf_putc(b, '[');
		for (int i = 0; i < dim; i++)
		{
			if (i > 0)
				buf_putc(b, ',');
			if (kind == 0)
				buf_putc(b, '0' + rnd(10));
			else
				append_number(b, rnd_float());
		}
		buf_putc(b, ']');
	}
	else if (kind == 2)
	{
		/* one element with a very long digit string */
		int			n = 1000 + rnd(100000);

		buf_putc(b, '[');
		if (chance(50))
			buf_put(b, "0.", 2);
		for (int i = 0; i < n; i++)
			buf_putc(b, '0' + rnd(10));
		buf_putc(b, ']');
	}
	else if (kind == 3)
	{
		/* lots of whitespace */
		int			n = 1000 + rnd(100000);

		for (int i = 0; i < n / 2; i++)
			buf_putc(b, ' ');
		buf_put(b, "[1", 2);
		for (int i = 0; i < n / 2; i++)
			buf_putc(b, chance(50) ? ' ' : '\t');
		buf_putc(b, ']');
	}
	else if (kind == 4)
	{
		/* far more than the limit */
		int			dim = VECTOR_MAX_DIM * 2 + rnd(1000);

		buf_putc(b, '[');
		for (int i = 0; i < dim; i++)
		{
			if (i > 0)
				buf_putc(b, ',');
			buf_putc(b, '1');
		}
		buf_putc(b, ']');
	}
	else
	{
		/* a long random-valued valid vector */
		gen_valid_literal(b, 200 + rnd(3000));
	}
}

static void
gen_space_literal(Buf *b)
{
	static const char ws[] = " \t\n\r\v\f";
	Buf			tmp = {0};
	int			n;

	gen_valid_literal(&tmp, small_dim());
	buf_reset(b);
	n = 1 + rnd(5);
	/* insert whitespace at random positions, including inside numbers */
	for (size_t i = 0; i <= tmp.len; i++)
	{
		if (rnd((uint32_t) tmp.len + 1) < (uint32_t) n)
		{
			int			k = 1 + rnd(3);

			for (int j = 0; j < k; j++)
				buf_putc(b, chance(10) ? "\xc2\xa0"[rnd(2)] : ws[rnd(6)]);
		}
		if (i < tmp.len)
			buf_putc(b, tmp.data[i]);
	}
	free(tmp.data);
}

static void
gen_empty_literal(Buf *b)
{
	static const char *const fixed[] = {
		"", " ", "\t", "[", "]", "[]", "[ ]", "[\t\n]", ",", "[,]", "[ , ]",
		"[-]", "[+]", "[.]", "[e]", "0", "1", "1,2", "vector", "null",
		"NULL", "[null]", "['1']", "[\"1\"]", "[1]x", "[1] x", "x[1]",
	};
	const char *f = fixed[rnd(sizeof(fixed) / sizeof(fixed[0]))];

	buf_reset(b);
	buf_put(b, f, strlen(f));
}

static void
mutate_flip(Buf *b)
{
	int			n = 1 + rnd(3);

	gen_valid_literal(b, small_dim());
	for (int i = 0; i < n && b->len > 0; i++)
	{
		size_t		pos = rnd((uint32_t) b->len);
		char		c;

		if (chance(50))
			c = "[],.-+eE0123456789 \tnaifx"[rnd(25)];
		else
			c = (char) (1 + rnd(255));		/* no NUL in a C string */
		if (chance(50))
			b->data[pos] = c;
		else if (chance(50))
		{
			/* insert */
			buf_reserve(b, 1);
			memmove(b->data + pos + 1, b->data + pos, b->len - pos + 1);
			b->data[pos] = c;
			b->len++;
		}
		else
		{
			/* delete */
			memmove(b->data + pos, b->data + pos + 1, b->len - pos);
			b->len--;
		}
	}
}

static void
mutate_truncate(Buf *b)
{
	gen_valid_literal(b, small_dim());
	if (b->len > 0)
	{
		b->len = rnd((uint32_t) b->len);
		b->data[b->len] = '\0';
	}
}

static void
gen_garbage(Buf *b)
{
	int			n = rnd(64);

	buf_reset(b);
	for (int i = 0; i < n; i++)
		buf_putc(b, (char) (1 + rnd(255)));
}

/* ---------- generators: binary ---------- */

static void
bin_header(Buf *b, int dim, int unused)
{
	buf_reset(b);
	put_i16(b, dim);
	put_i16(b, unused);
}

static void
gen_bin_valid(Buf *b, int dim)
{
	bin_header(b, dim, 0);
	for (int i = 0; i < dim; i++)
		put_f32(b, rnd_float());
}

static void
gen_bin_dim(Buf *b)
{
	static const int dims[] = {0, -1, -2, -32768, 32767, 16000, 16001, 16002,
	1, 2, 3, 255, 256, 8000};
	int			dim = dims[rnd(sizeof(dims) / sizeof(dims[0]))];
	int			nfloats;

	if (chance(30))
		dim = (int16_t) rnd(65536);
	/* payload size: matching, or a random guess */
	if (chance(50) && dim > 0)
		nfloats = dim;
	else
		nfloats = rnd(20);
	bin_header(b, dim, 0);
	for (int i = 0; i < nfloats; i++)
		put_f32(b, rnd_float());
}

static void
gen_bin_unused(Buf *b)
{
	int			dim = small_dim();
	int			unused = chance(50) ? 1 << rnd(16) : (int16_t) rnd(65536);

	if (unused == 0)
		unused = 1;
	bin_header(b, dim, unused);
	for (int i = 0; i < dim; i++)
		put_f32(b, rnd_float());
}

static void
gen_bin_length(Buf *b)
{
	int			dim = small_dim();

	gen_bin_valid(b, dim);
	if (chance(50) && b->len > 0)
		b->len = rnd((uint32_t) b->len);	/* truncate */
	else
	{
		int			extra = 1 + rnd(chance(50) ? 3 : 64);

		for (int i = 0; i < extra; i++)
			buf_putc(b, (char) rnd(256));
	}
}

static void
gen_bin_nonfinite(Buf *b)
{
	static const uint32_t bits[] = {
		0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xffffffff,
		0x7f800000, 0xff800000, 0x7fffffff,
	};
	int			dim = small_dim();
	int			target = rnd(dim);

	bin_header(b, dim, 0);
	for (int i = 0; i < dim; i++)
	{
		if (i == target || chance(10))
		{
			uint32_t	u = htonl(bits[rnd(sizeof(bits) / sizeof(bits[0]))]);

			buf_put(b, &u, 4);
		}
		else
			put_f32(b, rnd_float());
	}
}

static void
gen_bin_flip(Buf *b)
{
	int			n = 1 + rnd(4);

	gen_bin_valid(b, small_dim());
	for (int i = 0; i < n; i++)
	{
		size_t		pos = rnd((uint32_t) b->len);

		if (chance(50))
			b->data[pos] ^= (char) (1 << rnd(8));
		else
			b->data[pos] = (char) rnd(256);
	}
}

static void
gen_bin_random(Buf *b)
{
	int			n = rnd(chance(10) ? 70000 : 48);

	buf_reset(b);
	for (int i = 0; i < n; i++)
		buf_putc(b, (char) rnd(256));
}

static void
gen_bin_large(Buf *b)
{
	int			dim = chance(50) ? VECTOR_MAX_DIM - rnd(3) : VECTOR_MAX_DIM + 1 + rnd(2);

	gen_bin_valid(b, dim);
}

/* ---------- main ---------- */

typedef void (*TextGen) (Buf *);
typedef void (*BinGen) (Buf *);

static void
gen_text_valid(Buf *b)
{
	gen_valid_literal(b, small_dim());
}

static void
gen_bin_valid_small(Buf *b)
{
	gen_bin_valid(b, small_dim());
}

static void
gen_bin_empty(Buf *b)
{
	static const int lens[] = {0, 1, 2, 3, 4, 5, 6, 7};
	int			n = lens[rnd(8)];

	buf_reset(b);
	for (int i = 0; i < n; i++)
		buf_putc(b, chance(50) ? 0 : (char) rnd(256));
}

static void
print_check(int *num, int *nfail, Check *c, bool show_counts)
{
	(*num)++;
	if (c->failures)
		(*nfail)++;
	printf("%s %d - %s", c->failures ? "not ok" : "ok", *num, c->name);
	if (show_counts)
		printf(" (%ld cases: %ld accepted, %ld rejected)", c->cases, c->accepted, c->rejected);
	printf("\n");
	if (c->failures)
		printf("#   %ld failure(s); first: %s\n", c->failures, c->first_failure);
}

static long
file_size(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	long		n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

int
main(int argc, char **argv)
{
	uint64_t	seed = 20240601;
	long		count = 5000;
	const char *logpath = NULL;
	long		log_start = 0;
	Buf			b = {0};
	PGresult   *res;
	int			num = 0,
				nfail = 0;

	static struct
	{
		Check		c;
		TextGen		gen;
		int			weight;
	}			text[] = {
		{{.name = "text: valid literals (random spellings, whitespace)"}, gen_text_valid, 10},
		{{.name = "text: random byte flips / inserts / deletes"}, mutate_flip, 20},
		{{.name = "text: truncation"}, mutate_truncate, 10},
		{{.name = "text: huge and tiny exponents, long mantissas"}, gen_huge_exponent_literal, 10},
		{{.name = "text: NaN / infinity / odd number spellings"}, gen_weird_number_literal, 10},
		{{.name = "text: nested and unbalanced brackets"}, gen_nested_literal, 10},
		{{.name = "text: very long inputs, dimension limit"}, gen_long_literal, 2},
		{{.name = "text: embedded whitespace"}, gen_space_literal, 10},
		{{.name = "text: empty and tiny inputs"}, gen_empty_literal, 5},
		{{.name = "text: random bytes"}, gen_garbage, 13},
	};
	static struct
	{
		Check		c;
		BinGen		gen;
		int			weight;
	}			bin[] = {
		{{.name = "binary: valid payloads round-trip byte-exact"}, gen_bin_valid_small, 15},
		{{.name = "binary: bad and boundary dimensions"}, gen_bin_dim, 15},
		{{.name = "binary: nonzero unused field"}, gen_bin_unused, 10},
		{{.name = "binary: truncated / trailing bytes"}, gen_bin_length, 15},
		{{.name = "binary: NaN / infinity bit patterns"}, gen_bin_nonfinite, 10},
		{{.name = "binary: bit flips"}, gen_bin_flip, 15},
		{{.name = "binary: random bytes"}, gen_bin_random, 10},
		{{.name = "binary: empty and short payloads"}, gen_bin_empty, 7},
		{{.name = "binary: at and over the dimension limit"}, gen_bin_large, 3},
	};
	int			ntext = sizeof(text) / sizeof(text[0]);
	int			nbin = sizeof(bin) / sizeof(bin[0]);
	int			wtext = 0,
				wbin = 0;
	Check		c_alive = {.name = "connection still answers SELECT 1 after the run"};
	Check		c_log = {.name = "server log: no backend terminated by signal during the run"};
	time_t		t0 = time(NULL);

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
			logpath = argv[++i];
		else if (argv[i][0] == '-')
		{
			fprintf(stderr, "usage: %s [--seed N] [--count N] [--log FILE] [conninfo]\n", argv[0]);
			return 2;
		}
		else
			conninfo = argv[i];
	}

	printf("# fuzz_vector: seed %llu, %ld text + %ld binary cases (rerun: --seed %llu)\n",
		   (unsigned long long) seed, count, count, (unsigned long long) seed);
	rng_state = seed;
	if (logpath)
		log_start = file_size(logpath);

	if (!connect_db())
	{
		printf("1..1\nnot ok 1 - connect to the server\n");
		return 1;
	}

	/* quiet: don't fill the client output with NOTICEs; errors still come back */
	res = PQexec(conn, "SET client_min_messages = warning");
	PQclear(res);

	res = PQexec(conn, "SELECT 'vector'::regtype::oid");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		printf("1..1\nnot ok 1 - look up the vector type's OID\n# %s", PQresultErrorMessage(res));
		return 1;
	}
	vector_oid = (unsigned int) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);

	printf("1..%d\n", ntext + nbin + 4);
	fflush(stdout);

	for (int i = 0; i < ntext; i++)
		wtext += text[i].weight;
	for (int i = 0; i < nbin; i++)
		wbin += bin[i].weight;

	for (long n = 0; n < count; n++)
	{
		int			w = rnd(wtext),
					k = 0;

		while (w >= text[k].weight)
			w -= text[k++].weight;
		text[k].gen(&b);
		run_text(&text[k].c, b.data ? b.data : "");
	}
	for (long n = 0; n < count; n++)
	{
		int			w = rnd(wbin),
					k = 0;

		while (w >= bin[k].weight)
			w -= bin[k++].weight;
		bin[k].gen(&b);
		run_binary(&bin[k].c, b.data ? b.data : "", b.len);
	}

	for (int i = 0; i < ntext; i++)
		print_check(&num, &nfail, &text[i].c, true);
	for (int i = 0; i < nbin; i++)
		print_check(&num, &nfail, &bin[i].c, true);
	print_check(&num, &nfail, &c_text_oracle, false);
	print_check(&num, &nfail, &c_bin_oracle, false);

	/* the connection (or a new one) still works */
	if (PQstatus(conn) != CONNECTION_OK)
		check_fail(&c_alive, "connection is gone: %s", PQerrorMessage(conn));
	else
	{
		res = PQexec(conn, "SELECT 1");
		if (PQresultStatus(res) != PGRES_TUPLES_OK || strcmp(PQgetvalue(res, 0, 0), "1") != 0)
			check_fail(&c_alive, "SELECT 1 failed: %s", PQerrorMessage(conn));
		PQclear(res);
	}
	print_check(&num, &nfail, &c_alive, false);

	/* the server log has no crash in what was written during the run */
	if (!logpath)
	{
		num++;
		printf("ok %d - %s # SKIP no --log given\n", num, c_log.name);
	}
	else
	{
		FILE	   *f = fopen(logpath, "rb");
		char		line[8192];

		if (!f)
			check_fail(&c_log, "cannot open %s", logpath);
		else
		{
			if (log_start > 0)
				fseek(f, log_start, SEEK_SET);
			while (fgets(line, sizeof(line), f))
				if (strstr(line, "terminated by signal"))
				{
					line[strcspn(line, "\n")] = '\0';
					check_fail(&c_log, "%s", line);
				}
			fclose(f);
		}
		print_check(&num, &nfail, &c_log, false);
	}

	printf("# %ld queries in %ld s\n", total_queries, (long) (time(NULL) - t0));
	PQfinish(conn);
	free(b.data);
	return nfail ? 1 : 0;
}
