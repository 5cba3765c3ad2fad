-- Filter columns: the operator classes of an omendb index's key columns
-- after the vector (src/README.omendb, "Filter columns"), e.g.
--   CREATE INDEX ON items USING omendb (embedding vector_l2_ops, tenant_id, tags);
-- A scan applies their quals inside the graph walk.  Strategies: btree's for
-- scalars (1 <, 2 <=, 3 =, 4 >=, 5 >), and 3 =, 6 &&, 7 @>, 8 <@ for
-- arrays.  A filter class has no support function: that it names no metric
-- tells it from a vector column's.

CREATE OPERATOR FAMILY integer_ops USING omendb;

CREATE OPERATOR CLASS int2_ops
	DEFAULT FOR TYPE int2 USING omendb FAMILY integer_ops AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >;

CREATE OPERATOR CLASS int4_ops
	DEFAULT FOR TYPE int4 USING omendb FAMILY integer_ops AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >;

CREATE OPERATOR CLASS int8_ops
	DEFAULT FOR TYPE int8 USING omendb FAMILY integer_ops AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >;

-- Integer constants of another width: bigint_col = 5 compares int8 with int4.
ALTER OPERATOR FAMILY integer_ops USING omendb ADD
	OPERATOR 1 < (int2, int4),
	OPERATOR 2 <= (int2, int4),
	OPERATOR 3 = (int2, int4),
	OPERATOR 4 >= (int2, int4),
	OPERATOR 5 > (int2, int4),
	OPERATOR 1 < (int2, int8),
	OPERATOR 2 <= (int2, int8),
	OPERATOR 3 = (int2, int8),
	OPERATOR 4 >= (int2, int8),
	OPERATOR 5 > (int2, int8),
	OPERATOR 1 < (int4, int2),
	OPERATOR 2 <= (int4, int2),
	OPERATOR 3 = (int4, int2),
	OPERATOR 4 >= (int4, int2),
	OPERATOR 5 > (int4, int2),
	OPERATOR 1 < (int4, int8),
	OPERATOR 2 <= (int4, int8),
	OPERATOR 3 = (int4, int8),
	OPERATOR 4 >= (int4, int8),
	OPERATOR 5 > (int4, int8),
	OPERATOR 1 < (int8, int2),
	OPERATOR 2 <= (int8, int2),
	OPERATOR 3 = (int8, int2),
	OPERATOR 4 >= (int8, int2),
	OPERATOR 5 > (int8, int2),
	OPERATOR 1 < (int8, int4),
	OPERATOR 2 <= (int8, int4),
	OPERATOR 3 = (int8, int4),
	OPERATOR 4 >= (int8, int4),
	OPERATOR 5 > (int8, int4);

CREATE OPERATOR CLASS date_ops
	DEFAULT FOR TYPE date USING omendb AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >;

CREATE OPERATOR CLASS timestamp_ops
	DEFAULT FOR TYPE timestamp USING omendb AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >;

CREATE OPERATOR CLASS timestamptz_ops
	DEFAULT FOR TYPE timestamptz USING omendb AS
	OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >;

CREATE OPERATOR CLASS bool_ops
	DEFAULT FOR TYPE bool USING omendb AS
	OPERATOR 3 =;

-- Labels of these types are hashes: = (and IN) only.
CREATE OPERATOR CLASS text_ops
	DEFAULT FOR TYPE text USING omendb AS
	OPERATOR 3 =;

CREATE OPERATOR CLASS uuid_ops
	DEFAULT FOR TYPE uuid USING omendb AS
	OPERATOR 3 =;

-- Arrays of any element type with a hash function: signatures.
CREATE OPERATOR CLASS array_ops
	DEFAULT FOR TYPE anyarray USING omendb AS
	OPERATOR 3 = (anyarray, anyarray),
	OPERATOR 6 && (anyarray, anyarray),
	OPERATOR 7 @> (anyarray, anyarray),
	OPERATOR 8 <@ (anyarray, anyarray);
