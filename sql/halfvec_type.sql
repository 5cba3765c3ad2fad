--
-- halfvec_type: the halfvec type's text and binary forms, type modifier,
-- limits, operators, functions, aggregates and casts, which follow
-- pgvector's halfvec.
--

-- Text form: each element rounded to the nearest half, printed in the
-- shortest form that reads back as the same value.
SELECT '[1,2,3]'::halfvec;
SELECT ' [ 1,  -2.5 ,    3  ] '::halfvec;
SELECT '[1.23456]'::halfvec;					-- the nearest half is 1.234375
SELECT '[65519,-65519]'::halfvec;				-- rounds to the largest half
SELECT '[6e-8,-6e-8,1e-8]'::halfvec;			-- smallest subnormal; underflow
SELECT '[2.0009766,2.0029297]'::halfvec;		-- ties go to the even half
SELECT '[1,2,3]'::halfvec::text::halfvec = '[1,2,3]'::halfvec AS round_trip;

-- Every normal half (2^-14 to 65504) prints in a form that reads back as
-- itself: the text form loses nothing.
SELECT count(*) AS halves,
	   count(*) FILTER (WHERE v::text::halfvec = v) AS read_back
FROM (SELECT ('[' || (2.0::float8 ^ (e - 10) * m)::float4::text || ']')::halfvec AS v
	  FROM generate_series(-14, 15) e, generate_series(1024, 2047) m) s;

-- Bad input: each with pgvector's error and SQLSTATE.
\set VERBOSITY sqlstate
SELECT '[NaN,1]'::halfvec;
SELECT '[Infinity,1]'::halfvec;
SELECT '[-Infinity,1]'::halfvec;
SELECT '[65520,-65520]'::halfvec;
SELECT '[4e38,1]'::halfvec;
SELECT '[hello,1]'::halfvec;
SELECT '[1,2,3'::halfvec;
SELECT '[1,2,3]9'::halfvec;
SELECT '1,2,3'::halfvec;
SELECT '[]'::halfvec;
SELECT '[1,,3]'::halfvec;
\set VERBOSITY default
SELECT '[65520]'::halfvec;
SELECT '[]'::halfvec;

-- Type modifier.
SELECT '[1,2,3]'::halfvec(3);
SELECT '[1,2,3]'::halfvec(2);
SELECT '[1,2,3]'::halfvec(3, 2);
SELECT '[1,2,3]'::halfvec(0);
SELECT '[1,2,3]'::halfvec(16001);
SELECT '{"[1,2,3]"}'::halfvec(2)[];
CREATE TABLE halfvec_t (id int, v halfvec(2));
INSERT INTO halfvec_t VALUES (1, '[1,2]');
INSERT INTO halfvec_t VALUES (2, '[1,2,3]');
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'halfvec_t'::regclass AND attname = 'v';

-- Limits: 16,000 dimensions.
SELECT vector_dims(array_fill(1, ARRAY[16000])::halfvec);
SELECT array_fill(1, ARRAY[16001])::halfvec;
SELECT ('[' || repeat('1,', 16000) || '1]')::halfvec;
SELECT array_fill(0, ARRAY[16000])::halfvec || '[1]';

-- Binary form: int16 dim, int16 zero, then the halves' bits as big-endian
-- int16s (1 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, smallest
-- subnormal = 0x0001).
SELECT halfvec_send('[1,-2.5,0]');
SELECT halfvec_send('[65504,6e-8,-0]');

-- COPY binary round trip through a server-side file.
CREATE TABLE halfvec_copy (id int, v halfvec);
INSERT INTO halfvec_copy VALUES (1, '[1,2,3]'), (2, '[-0.1,6e-8,65504]'), (3, NULL);
CREATE TABLE halfvec_copy2 (LIKE halfvec_copy);
SELECT current_setting('data_directory') || '/halfvec_type.bin' AS binfile \gset
COPY halfvec_copy TO :'binfile' (FORMAT binary);
COPY halfvec_copy2 FROM :'binfile' (FORMAT binary);
SELECT a.id, a.v = b.v AS same, b.v FROM halfvec_copy a JOIN halfvec_copy2 b USING (id) ORDER BY id;
SELECT position(halfvec_send('[-0.1,6e-8,65504]') IN pg_read_binary_file(:'binfile')) > 0 AS found;

-- Binary input validates like text input: each case writes a one-row
-- binary COPY file holding the given field bytes and loads it.
CREATE FUNCTION pg_temp.copy_binary(field bytea, path text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	lo oid;
	loaded text;
BEGIN
	lo := lo_from_bytea(0,
		'\x5047434f50590aff0d0a00'::bytea		-- signature
		|| '\x0000000000000000'::bytea		-- flags, header extension length
		|| '\x0001'::bytea						-- one field
		|| int4send(length(field)) || field
		|| '\xffff'::bytea);					-- trailer
	PERFORM lo_export(lo, path);
	PERFORM lo_unlink(lo);
	TRUNCATE halfvec_bin;
	EXECUTE format('COPY halfvec_bin FROM %L (FORMAT binary)', path);
	SELECT v::text INTO loaded FROM halfvec_bin;
	RETURN loaded;
EXCEPTION WHEN OTHERS THEN
	-- (the large object went away with the failed block)
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE TABLE halfvec_bin (v halfvec);
SELECT descr, pg_temp.copy_binary(field, :'binfile')
FROM (VALUES
	('[1,-2.5]', '\x000200003c00c100'::bytea),
	('infinity', '\x000100007c00'),
	('NaN', '\x00010000fe00'),
	('unused field set', '\x000100013c00'),
	('no dimensions', '\x00000000'),
	('16001 dimensions', '\x3e810000'),
	('too short', '\x000200003c00'),
	('too long', '\x000100003c000000')) AS c(descr, field);

-- Arithmetic: in float, rounded once to half; beyond the half range it
-- is an overflow error, as for float4.
SELECT '[1,2,3]'::halfvec + '[4,5,6]';
SELECT '[1,2,3]'::halfvec - '[4,5,6]';
SELECT '[1,2,3]'::halfvec * '[4,5,6]';
SELECT '[1,2,3]'::halfvec || '[4,5]';
SELECT '[65504]'::halfvec + '[8]';			-- rounds back to 65504
SELECT '[65519]'::halfvec + '[65519]';
SELECT '[-65519]'::halfvec - '[65519]';
SELECT '[65519]'::halfvec * '[65519]';
SELECT '[1e-7]'::halfvec * '[1e-7]';
SELECT '[1,2]'::halfvec + '[3]';
SELECT '[1,2]'::halfvec - '[3]';
SELECT '[1,2]'::halfvec * '[3]';

-- Comparison: element by element, then by length.
SELECT '[1,2,3]'::halfvec < '[1,2,3]', '[1,2,3]'::halfvec <= '[1,2,3]',
	   '[1,2,3]'::halfvec = '[1,2,3]', '[1,2,3]'::halfvec <> '[1,2,3]',
	   '[1,2,3]'::halfvec >= '[1,2,3]', '[1,2,3]'::halfvec > '[1,2,3]';
SELECT '[1,2,3]'::halfvec < '[1,2]', '[1,2]'::halfvec < '[1,2,3]',
	   '[1,2]'::halfvec < '[2,0]', '[0]'::halfvec = '[-0]';
SELECT halfvec_cmp('[1,2,3]', '[1,2,3]'), halfvec_cmp('[1,2,3]', '[0,0,0]'),
	   halfvec_cmp('[1,2]', '[1,2,3]'), halfvec_cmp('[2,3]', '[1,2,3]');
SELECT v FROM unnest('{"[2,1]","[1,2,3]","[1,2]","[-1,5]"}'::halfvec[]) v ORDER BY v;

-- Distances.
SELECT l2_distance('[0,0]'::halfvec, '[3,4]'), '[0,0]'::halfvec <-> '[3,4]';
SELECT l2_distance('[1,1,1,1,1,1,1,1,1]'::halfvec, '[1,1,1,1,1,1,1,4,5]');
SELECT inner_product('[1,2]'::halfvec, '[3,4]'), '[1,2]'::halfvec <#> '[3,4]';
SELECT inner_product('[65504]'::halfvec, '[65504]');
SELECT cosine_distance('[1,2]'::halfvec, '[2,4]'), '[1,2]'::halfvec <=> '[2,4]';
SELECT cosine_distance('[1,0]'::halfvec, '[0,2]'), cosine_distance('[1,1]'::halfvec, '[-1,-1]');
SELECT cosine_distance('[1,2]'::halfvec, '[0,0]');
SELECT l1_distance('[0,0]'::halfvec, '[3,4]'), '[0,0]'::halfvec <+> '[3,4]';
SELECT l2_distance('[1,2]'::halfvec, '[3]');
SELECT inner_product('[1,2]'::halfvec, '[3]');
SELECT cosine_distance('[1,2]'::halfvec, '[3]');
SELECT l1_distance('[1,2]'::halfvec, '[3]');

-- A halfvec distance is exactly the vector distance of the casts: both
-- use the same float kernels on the same floats.
SELECT count(*) AS pairs,
	   count(*) FILTER (WHERE a <-> b = a::vector <-> b::vector) AS l2,
	   count(*) FILTER (WHERE a <#> b = a::vector <#> b::vector) AS ip,
	   count(*) FILTER (WHERE a <=> b = a::vector <=> b::vector) AS cosine,
	   count(*) FILTER (WHERE a <+> b = a::vector <+> b::vector) AS l1
FROM (SELECT array_agg(sin(i * 7 + j) * 1000)::halfvec AS a,
			 array_agg(cos(i * 3 - j) * 0.01)::halfvec AS b
	  FROM generate_series(1, 50) i, generate_series(1, 37) j GROUP BY i) s;

-- Functions.
SELECT vector_dims('[1,2,3]'::halfvec);
SELECT l2_norm('[3,4]'::halfvec), l2_norm('[0,0]'::halfvec), round(l2_norm('[1,1]'::halfvec)::numeric, 5);
SELECT l2_normalize('[3,4]'::halfvec), l2_normalize('[3,0]'::halfvec),
	   l2_normalize('[0,0]'::halfvec), l2_normalize('[65504]'::halfvec);
SELECT subvector('[1,2,3,4,5]'::halfvec, 1, 3), subvector('[1,2,3,4,5]'::halfvec, -1, 3),
	   subvector('[1,2,3,4,5]'::halfvec, 3, 2147483647),
	   subvector('[1,2,3,4,5]'::halfvec, -2147483644, 2147483647);
SELECT subvector('[1,2,3,4,5]'::halfvec, 1, 0);
SELECT subvector('[1,2,3,4,5]'::halfvec, 2147483647, 10);

-- binary_quantize: one bit per element, set where it is positive.
SELECT binary_quantize('[1,0,-1]'::halfvec);
SELECT binary_quantize('[0,0.1,-0.2,-0.3,0.4,0.5,0.6,-0.7,0.8,-0.9,1]'::halfvec);
SELECT binary_quantize('[1,0,-1]'::vector);
SELECT binary_quantize('[0,0.1,-0.2,-0.3,0.4,0.5,0.6,-0.7,0.8,-0.9,1]'::vector);
SELECT length(binary_quantize(array_fill(1, ARRAY[16000])::halfvec));

-- Aggregates: avg sums in double, sum adds halves.
SELECT avg(v), sum(v) FROM unnest(ARRAY['[1,2,3]'::halfvec, '[3,5,7]', NULL]) v;
SELECT avg(v), sum(v) FROM unnest(ARRAY[]::halfvec[]) v;
SELECT avg(v) FROM unnest(ARRAY['[65504]'::halfvec, '[65504]']) v;
SELECT sum(v) FROM unnest(ARRAY['[65504]'::halfvec, '[65504]']) v;
SELECT avg(v) FROM unnest(ARRAY['[1,2]'::halfvec, '[3]']) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2]'::halfvec, '[3]']) v;

-- Casts to and from vector: exact one way, rounded the other.
SELECT '[1,2,3]'::vector::halfvec, '[1.23456]'::vector::halfvec, '[1e-8]'::vector::halfvec;
SELECT '[1,2,3]'::vector::halfvec(3);
SELECT '[1,2,3]'::vector::halfvec(2);
SELECT '[65520]'::vector::halfvec;
SELECT '[1,2,3]'::halfvec::vector, '[1.234375,6e-8]'::halfvec::vector;
SELECT '[1,2,3]'::halfvec::vector(2);
-- vector to halfvec is implicit, halfvec to vector by assignment.
SELECT '[1,2]'::vector <-> '[3,4]'::halfvec;
INSERT INTO halfvec_t VALUES (3, '[5,6]'::vector);
CREATE TABLE halfvec_vt (v vector(2));
INSERT INTO halfvec_vt SELECT v FROM halfvec_t;
SELECT * FROM halfvec_vt;

-- Casts from arrays, and to real[].
SELECT '{1,2,3}'::real[]::halfvec, '{1,2,3}'::int[]::halfvec,
	   '{1.5,2.25}'::float8[]::halfvec, '{1.5,2.25}'::numeric[]::halfvec;
SELECT '{1,2,3}'::real[]::halfvec(2);
SELECT '{65520,-65520}'::real[]::halfvec;
SELECT '{100000}'::int[]::halfvec;
SELECT '{NaN}'::real[]::halfvec;
SELECT '{1,NULL}'::real[]::halfvec;
SELECT '{{1,2},{3,4}}'::real[]::halfvec;
SELECT '[1,-2.5,6e-8]'::halfvec::real[];
