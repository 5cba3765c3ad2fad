--
-- vector_io: the text and binary forms of the vector type, its type
-- modifier, and COPY.
--

\i sql/include/error_of.sql

-- Text form: '[x1,x2,...]' without spaces on output.
SELECT '[1,2,3]'::vector;
SELECT '[-1.5,0,2.25]'::vector;

-- Whitespace (space, tab, newline, ...) is allowed around the brackets and
-- commas, and is not kept.
SELECT ' [ 1 , 2 ,3 ] '::vector;
SELECT (E'\t[\n1,\r2\f,' || chr(11) || E'3]\n')::vector;

-- Every number syntax strtof knows is accepted: exponents, leading '+' or
-- '.', trailing '.', hexadecimal.
SELECT '[1e3,+4,.5,6.,-7E-2,0x10]'::vector;

-- Output is the shortest decimal that reads back as the same float, with
-- an exponent where that is shorter; -0 keeps its sign.
SELECT '[0.1,1.5e-7,123456789,3.4028235e38,1e-45,-0]'::vector;

-- Values are rounded to float4 once, directly from the decimal string.
SELECT '[0.1000000000000000055511151231257827,16777217,1.00000005960464477539]'::vector;

-- Text round trip is exact for any float4: 10,000 random values go
-- through text and come back bit-identical.
SELECT count(*) AS mismatches
FROM (SELECT ((random() - 0.5) * 10 ^ (random() * 70 - 35))::real AS r
	  FROM generate_series(1, 10000)) s
WHERE ('[' || s.r::text || ']')::vector::text::vector::real[] <> ARRAY[s.r];

-- Underflow to zero (or a denormal) is accepted, even with a very long
-- mantissa.
SELECT '[1e-50,1e-40]'::vector;
SELECT ('[0.' || repeat('0', 100000) || '1]')::vector;

-- Malformed literals are invalid_text_representation (22P02), with a detail
-- where it helps.
SELECT ''::vector;
SELECT '[1,2'::vector;
SELECT '[1,'::vector;
SELECT '1,2]'::vector;
SELECT '[1,2] 3'::vector;
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT ' '::vector$$,
	$$SELECT '['::vector$$,
	$$SELECT ']'::vector$$,
	$$SELECT '[1,,2]'::vector$$,
	$$SELECT '[,1]'::vector$$,
	$$SELECT '[1 2]'::vector$$,
	$$SELECT '[1;2]'::vector$$,
	$$SELECT '[a]'::vector$$,
	$$SELECT '[1a]'::vector$$,
	$$SELECT '[1e]'::vector$$,
	$$SELECT '[--1]'::vector$$,
	$$SELECT '[1.2.3]'::vector$$,
	$$SELECT '[1]]'::vector$$,
	$$SELECT '[[1]]'::vector$$,
	$$SELECT '{1,2}'::vector$$,
	$$SELECT '(1,2)'::vector$$
]) AS stmt;

-- The empty vector is a data_exception (22000).
SELECT '[]'::vector;
SELECT '[ ]'::vector;

-- NaN and infinities are a data_exception (22000), whatever their
-- spelling.
SELECT '[NaN]'::vector;
SELECT '[1,-Infinity]'::vector;
SELECT stmt, pg_temp.error_of(stmt)
FROM unnest(ARRAY[
	$$SELECT '[nan]'::vector$$,
	$$SELECT '[-nan]'::vector$$,
	$$SELECT '[inf]'::vector$$,
	$$SELECT '[+INF]'::vector$$,
	$$SELECT '[infinity]'::vector$$
]) AS stmt;

-- Numbers beyond float4's range are numeric_value_out_of_range (22003).
SELECT '[1e39]'::vector;
SELECT '[-3.5e38]'::vector;
SELECT ('[' || repeat('9', 50) || ']')::vector;

-- At most 16000 elements; one more is program_limit_exceeded (54000),
-- raised before the rest of a huge literal is parsed.
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector);
SELECT ('[' || repeat('1,', 16000) || '1]')::vector;
SELECT ('[' || repeat('1,', 1000000) || '1]')::vector;

-- Typmod: vector(n) is shown as such.
CREATE TABLE vector_io_t (id int, v vector(3));
SELECT format_type(atttypid, atttypmod)
FROM pg_attribute WHERE attrelid = 'vector_io_t'::regclass AND attname = 'v';

-- Typmod: 1 <= n <= 16000, exactly one modifier.
SELECT '[1]'::vector(1), vector_dims(array_fill(1, ARRAY[16000])::vector(16000));
SELECT '[1]'::vector(0);
SELECT '[1]'::vector(-1);
SELECT '[1]'::vector(16001);
SELECT '[1]'::vector(1, 2);
SELECT '[1]'::vector('a');

-- Typmod: enforced on input, cast and assignment (INSERT, UPDATE,
-- INSERT ... SELECT from an unconstrained vector).
INSERT INTO vector_io_t VALUES (1, '[1,2,3]');
INSERT INTO vector_io_t VALUES (2, '[1,2]');
INSERT INTO vector_io_t VALUES (2, '[1,2,3,4]'::vector);
UPDATE vector_io_t SET v = '[1,2]'::vector;
INSERT INTO vector_io_t SELECT 3, '[1,2]'::vector;
SELECT '[1,2,3]'::vector::vector(2);
SELECT '[1,2]'::vector(3);
SELECT * FROM vector_io_t;

-- Binary form: int16 dim, int16 zero, then big-endian float4s.
SELECT vector_send('[1,-2.5,0]');
SELECT vector_send('[1e-45,3.4028235e38]');

-- COPY text round trip, and COPY FROM checks like the input function.
CREATE TABLE vector_io_copy (id int, v vector);
INSERT INTO vector_io_copy VALUES (1, '[1,2,3]'), (2, '[-0.1,1e-45,3.4028235e38]'), (3, NULL);
COPY vector_io_copy TO STDOUT;
CREATE TABLE vector_io_copy2 (LIKE vector_io_copy);
COPY vector_io_copy2 FROM STDIN;
1	[1,2,3]
2	[-0.1,1e-45,3.4028235e38]
3	\N
\.
SELECT a.id, a.v = b.v AS same FROM vector_io_copy a JOIN vector_io_copy2 b USING (id) ORDER BY id;
COPY vector_io_copy2 FROM STDIN;
4	[1,2
\.
COPY vector_io_t FROM STDIN;
4	[1,2]
\.

-- COPY binary round trip through a server-side file (in the data
-- directory, so concurrent clusters do not collide).
SELECT current_setting('data_directory') || '/vector_io.bin' AS binfile \gset
COPY vector_io_copy TO :'binfile' (FORMAT binary);
TRUNCATE vector_io_copy2;
COPY vector_io_copy2 FROM :'binfile' (FORMAT binary);
SELECT a.id, a.v = b.v AS same, b.v FROM vector_io_copy a JOIN vector_io_copy2 b USING (id) ORDER BY id;

-- The binary COPY file holds exactly vector_send's bytes for each field.
SELECT position(vector_send('[-0.1,1e-45,3.4028235e38]') IN pg_read_binary_file(:'binfile')) > 0 AS found;

-- Binary input validates like text input.  Each case writes a one-row,
-- one-column binary COPY file holding the given field bytes and loads it.
CREATE FUNCTION pg_temp.copy_binary(tbl text, field bytea, path text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lo oid;
BEGIN
	lo := lo_from_bytea(0,
		'\x5047434f50590aff0d0a00'::bytea		-- signature
		|| '\x0000000000000000'::bytea		-- flags, header extension length
		|| '\x0001'::bytea						-- one field
		|| int4send(length(field)) || field
		|| '\xffff'::bytea);					-- trailer
	PERFORM lo_export(lo, path);
	PERFORM lo_unlink(lo);
	EXECUTE format('COPY %I FROM %L (FORMAT binary)', tbl, path);
	RETURN 'loaded';
EXCEPTION WHEN OTHERS THEN
	-- (the large object went away with the failed block)
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE TABLE vector_io_bin (v vector);
CREATE TABLE vector_io_bin3 (v vector(3));
SELECT descr, pg_temp.copy_binary(tbl, field, :'binfile')
FROM (VALUES
	('valid [1,2]', 'vector_io_bin', '\x000200003f80000040000000'::bytea),
	('dim 0', 'vector_io_bin', '\x00000000'),
	('dim -1', 'vector_io_bin', '\xffff00003f800000'),
	('dim 16001', 'vector_io_bin', '\x3e8100003f800000'),
	('unused 1', 'vector_io_bin', '\x000100013f800000'),
	('unused -1', 'vector_io_bin', '\x0001ffff3f800000'),
	('NaN', 'vector_io_bin', '\x000200003f8000007fc00000'),
	('+Infinity', 'vector_io_bin', '\x000200003f8000007f800000'),
	('-Infinity', 'vector_io_bin', '\x00020000ff8000003f800000'),
	('short data', 'vector_io_bin', '\x000200003f800000'),
	('extra data', 'vector_io_bin', '\x000100003f8000003f800000'),
	('no header', 'vector_io_bin', '\x00'),
	('typmod ok', 'vector_io_bin3', '\x000300003f8000004000000040400000'),
	('typmod 3, dim 2', 'vector_io_bin3', '\x000200003f80000040000000')
) AS t(descr, tbl, field);
SELECT * FROM vector_io_bin;
SELECT * FROM vector_io_bin3;

-- Storage is external (uncompressed, out of line when large), and a large
-- vector survives the trip through TOAST.
SELECT typstorage FROM pg_type WHERE oid = 'vector'::regtype;
INSERT INTO vector_io_copy
SELECT 10, array_agg(i * 0.5)::vector FROM generate_series(1, 16000) i;
SELECT vector_dims(v), v::real[] = (SELECT array_agg((i * 0.5)::real) FROM generate_series(1, 16000) i) AS same
FROM vector_io_copy WHERE id = 10;
SELECT pg_column_size(v) > 64000 AS uncompressed FROM vector_io_copy WHERE id = 10;

DROP TABLE vector_io_t, vector_io_copy, vector_io_copy2, vector_io_bin, vector_io_bin3;
