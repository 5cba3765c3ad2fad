--
-- vector_relocate: the extension is relocatable; the type works from a
-- schema that is not on the search_path.
--
-- This file drops and recreates the extension; it restores it in public
-- at the end, where the other tests expect it.
--

-- Leftovers of earlier tests that use the type go with the extension.
SET client_min_messages = warning;
DROP EXTENSION omendb CASCADE;
RESET client_min_messages;

-- Install into a schema of its own, which stays off the search_path.
CREATE SCHEMA omendb_s;
CREATE EXTENSION omendb SCHEMA omendb_s;
SHOW search_path;
SELECT extrelocatable, extnamespace::regnamespace FROM pg_extension WHERE extname = 'omendb';

-- Every object of the extension that lives in a schema is in that one.
CREATE TEMP VIEW omendb_members AS
SELECT objid FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'omendb');
CREATE TEMP VIEW omendb_objects AS
SELECT 'type' AS kind, typnamespace AS nsp FROM pg_type WHERE oid IN (SELECT objid FROM omendb_members)
UNION ALL
SELECT 'function', pronamespace FROM pg_proc WHERE oid IN (SELECT objid FROM omendb_members)
UNION ALL
SELECT 'operator', oprnamespace FROM pg_operator WHERE oid IN (SELECT objid FROM omendb_members)
UNION ALL
SELECT 'operator class', opcnamespace FROM pg_opclass WHERE oid IN (SELECT objid FROM omendb_members);
SELECT DISTINCT kind, nsp::regnamespace FROM omendb_objects ORDER BY kind;

-- The type, its typmod, input and output.
CREATE TABLE vector_relocate_t (id int, v omendb_s.vector(3));
INSERT INTO vector_relocate_t VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, '[0,0,1]');
INSERT INTO vector_relocate_t VALUES (4, '[1,2]');
SELECT * FROM vector_relocate_t ORDER BY id;
SELECT '[1,2]'::omendb_s.vector;
SELECT format_type(atttypid, atttypmod)
FROM pg_attribute WHERE attrelid = 'vector_relocate_t'::regclass AND attname = 'v';

-- Operators, qualified.
SELECT id, v OPERATOR(omendb_s.<->) '[1,2,3]' AS l2,
	   v OPERATOR(omendb_s.<#>) '[1,2,3]' AS neg_ip,
	   v OPERATOR(omendb_s.<=>) '[1,2,3]' AS cosine,
	   v OPERATOR(omendb_s.<+>) '[1,2,3]' AS l1,
	   v OPERATOR(omendb_s.+) v AS sum,
	   v OPERATOR(omendb_s.||) '[7]' AS concat
FROM vector_relocate_t ORDER BY id;

-- Functions and aggregates, qualified.
SELECT omendb_s.l2_distance('[0,0]'::omendb_s.vector, '[3,4]'),
	   omendb_s.vector_dims('[1,2]'::omendb_s.vector),
	   omendb_s.vector_norm('[3,4]'), omendb_s.l2_normalize('[3,4]'::omendb_s.vector),
	   omendb_s.subvector('[1,2,3]'::omendb_s.vector, 2, 2),
	   omendb_s.vector_l2_squared_distance('[0,0]', '[3,4]');
SELECT omendb_s.avg(v), omendb_s.sum(v) FROM vector_relocate_t;

-- Casts are found by type, not by name.
SELECT ARRAY[1, 2]::omendb_s.vector, ARRAY[1.5, 2]::float8[]::omendb_s.vector(2),
	   '[1,2]'::omendb_s.vector::real[];

-- The btree operator class sorts, and comparison operators are qualified.
SELECT id FROM vector_relocate_t ORDER BY v DESC;
SELECT id FROM vector_relocate_t WHERE v OPERATOR(omendb_s.>) '[1,2,3]' ORDER BY id;

-- ALTER EXTENSION SET SCHEMA moves everything, and the type keeps working.
CREATE SCHEMA omendb_s2;
ALTER EXTENSION omendb SET SCHEMA omendb_s2;
SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'omendb';
SELECT v OPERATOR(omendb_s2.<->) '[1,2,3]', omendb_s2.avg(v) OVER () FROM vector_relocate_t ORDER BY id;
SELECT DISTINCT kind, nsp::regnamespace FROM omendb_objects ORDER BY kind;
SELECT '[1]'::omendb_s.vector;

-- Put everything back: the extension in public, where the other tests
-- expect it.
DROP TABLE vector_relocate_t;
DROP EXTENSION omendb;
DROP SCHEMA omendb_s, omendb_s2;
CREATE EXTENSION omendb;
SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'omendb';
SELECT '[1,2]'::vector <-> '[4,6]';
