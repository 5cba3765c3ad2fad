"""Real-client round trips of omendb's vector types through psycopg 3.

Debian packages psycopg 3 (python3-psycopg) but not pgvector's Python
adapter, so the adapters here are psycopg's own Dumper/Loader classes,
written against the documented wire formats:

    text:   '[1,2.5,-3]'
    binary: int16 dimensions, int16 unused (zero), then one big-endian
            float4 (vector) or float16 (halfvec) per dimension

Each type goes out and comes back in both formats, is stored and read
back through a table, and is used as the query of an omendb index scan.
Connection: the libpq environment test/run sets (PGHOST, PGPORT, PGUSER,
PGDATABASE).  Run: python3 test/python/test_vector.py (prints TAP).
"""

import math
import struct
import sys
import unittest

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

FLT_MAX = 3.4028234663852886e38
FLT_TRUE_MIN = 1.401298464324817e-45  # smallest subnormal float4
HALF_MAX = 65504.0
HALF_TRUE_MIN = 2.0 ** -24  # smallest subnormal float16


class Vec(list):
    """A vector value: a list of floats."""


class HalfVec(list):
    """A halfvec value: a list of floats that float16 holds exactly."""


def text_of(values):
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def parse_text(data):
    s = bytes(data).decode()
    if not (s.startswith("[") and s.endswith("]")):
        raise ValueError("malformed vector text: %r" % s)
    return [float(x) for x in s[1:-1].split(",")] if len(s) > 2 else []


def rounded(values, code):
    """values as the type's elements hold them (float4 or float16)."""
    fmt = "<%d%s" % (len(values), code)
    return struct.unpack(fmt, struct.pack(fmt, *values))


def make_adapters(cls, typename, code):
    """Text and binary dumpers and loaders of one vector type."""

    class TextDumper(Dumper):
        format = Format.TEXT

        def dump(self, obj):
            return text_of(obj).encode()

    class BinaryDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj):
            return struct.pack(">HH%d%s" % (len(obj), code), len(obj), 0, *obj)

    class TextLoader(Loader):
        format = Format.TEXT

        def load(self, data):
            return cls(rounded(parse_text(data), code))

    class BinaryLoader(Loader):
        format = Format.BINARY

        def load(self, data):
            data = bytes(data)
            dims, unused = struct.unpack_from(">HH", data)
            if unused != 0:
                raise ValueError("%s: unused field is %d" % (typename, unused))
            return cls(struct.unpack_from(">%d%s" % (dims, code), data, 4))

    return TextDumper, BinaryDumper, TextLoader, BinaryLoader


def register(conn, cls, typename, code, binary):
    """Make conn send cls as typename and read typename as cls."""
    info = TypeInfo.fetch(conn, typename)
    if info is None:
        return None
    text_d, bin_d, text_l, bin_l = make_adapters(cls, typename, code)
    dumper = bin_d if binary else text_d
    dumper.oid = info.oid
    conn.adapters.register_dumper(cls, dumper)
    conn.adapters.register_loader(info.oid, text_l)
    conn.adapters.register_loader(info.oid, bin_l)
    return info


def same(a, b):
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b))


class VectorTypes(unittest.TestCase):
    """Each test runs once per wire format (binary and text)."""

    binary = None  # set by the subclasses below

    @classmethod
    def setUpClass(cls):
        cls.conn = psycopg.connect(autocommit=True)
        cls.vector = register(cls.conn, Vec, "vector", "f", cls.binary)
        cls.halfvec = register(cls.conn, HalfVec, "halfvec", "e", cls.binary)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()

    def roundtrip(self, value, typename):
        with self.conn.cursor(binary=self.binary) as cur:
            cur.execute("SELECT %s::" + typename, (value,))
            return cur.fetchone()[0]

    def test_vector_roundtrips_exactly(self):
        for v in ([1.0, 2.5, -3.0], [FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, -0.0],
                  [0.1] * 16000, [1.0]):
            got = self.roundtrip(Vec(v), "vector")
            self.assertIsInstance(got, Vec)
            self.assertTrue(same(got, rounded(v, "f")))

    def test_vector_server_reads_what_client_sent(self):
        with self.conn.cursor(binary=self.binary) as cur:
            cur.execute("SELECT vector_dims(%s::vector), %s::vector::text",
                        (Vec([1.5, -2.0, 3.25]), Vec([1.5, -2.0, 3.25])))
            dims, text = cur.fetchone()
            self.assertEqual(dims, 3)
            self.assertEqual(text, "[1.5,-2,3.25]")

    def test_vector_bad_input_is_an_error(self):
        with self.conn.cursor(binary=self.binary) as cur:
            with self.assertRaises(psycopg.errors.DataException):
                cur.execute("SELECT %s::vector", (Vec([float("nan")]),))
            with self.assertRaises(psycopg.errors.DataException):
                cur.execute("SELECT %s::vector", (Vec([]),))

    def test_vector_table_and_index_scan(self):
        with self.conn.cursor(binary=self.binary) as cur:
            table = "py_items_" + ("bin" if self.binary else "text")
            cur.execute("DROP TABLE IF EXISTS %s" % table)
            cur.execute("CREATE TABLE %s (id int PRIMARY KEY, v vector(3))" % table)
            rows = [(i, Vec([math.sin(i), math.cos(i), i / 100.0])) for i in range(200)]
            cur.executemany("INSERT INTO %s VALUES (%%s, %%s)" % table, rows)
            cur.execute("CREATE INDEX ON %s USING omendb (v vector_l2_ops)" % table)
            q = Vec([0.5, 0.5, 0.5])
            query = "SELECT id, v FROM %s ORDER BY v <-> %%s LIMIT 5" % table
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN (COSTS OFF) " + query, (q,))
            self.assertIn("Index Scan", "\n".join(r[0] for r in cur.fetchall()))
            cur.execute(query, (q,))
            got = cur.fetchall()
            cur.execute("SET enable_seqscan = on")
            cur.execute("SET enable_indexscan = off")
            cur.execute(query, (q,))
            exact = cur.fetchall()
            cur.execute("RESET enable_indexscan")
            self.assertEqual([r[0] for r in got], [r[0] for r in exact])
            stored = dict(rows)
            for i, v in got:
                self.assertTrue(same(v, rounded(stored[i], "f")))
            cur.execute("RESET enable_seqscan")
            cur.execute("DROP TABLE %s" % table)

    def test_halfvec_roundtrips_exactly(self):
        self.assertIsNotNone(self.halfvec, "the database has the halfvec type")
        for v in ([1.0, 2.5, -3.0], [HALF_MAX, -HALF_MAX, HALF_TRUE_MIN, -0.0], [0.5] * 16000):
            got = self.roundtrip(HalfVec(v), "halfvec")
            self.assertIsInstance(got, HalfVec)
            self.assertTrue(same(got, v))

    def test_halfvec_casts_to_vector(self):
        self.assertIsNotNone(self.halfvec, "the database has the halfvec type")
        with self.conn.cursor(binary=self.binary) as cur:
            cur.execute("SELECT %s::halfvec::vector", (HalfVec([1.5, -2.0, 0.25]),))
            self.assertTrue(same(cur.fetchone()[0], [1.5, -2.0, 0.25]))
            # beyond the half range: 22003, as pgvector raises
            with self.assertRaises(psycopg.errors.NumericValueOutOfRange):
                cur.execute("SELECT %s::vector::halfvec", (Vec([1e6]),))


class BinaryFormat(VectorTypes):
    binary = True


class TextFormat(VectorTypes):
    binary = False


class TapResult(unittest.TextTestResult):
    """Prints one TAP line per test, for test/run's counting."""

    n = 0

    def _line(self, test, ok, directive=""):
        TapResult.n += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", TapResult.n, test.id(), directive),
              flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, False)

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, False)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, True, " # SKIP " + reason)


if __name__ == "__main__":
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for cls in (BinaryFormat, TextFormat):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    print("1..%d" % suite.countTestCases(), flush=True)
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=0, resultclass=TapResult)
    result = runner.run(suite)
    sys.exit(0 if result.wasSuccessful() else 1)
