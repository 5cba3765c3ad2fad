// Real-client round trip of the omendb `vector` type through node-postgres
// and the `pgvector` npm package, over both wire formats:
//   text:   pgvector.toSql() / registerTypes() parser  -> vector_in / vector_out
//   binary: Buffer parameters (pg sends them with format 1) -> vector_recv,
//           `binary: true` queries with a binary type parser <- vector_send
//
// Connection comes from the libpq-style environment test/run sets:
// PGHOST (socket directory), PGPORT, PGUSER, PGDATABASE.
// Run: node --test --test-reporter=tap   (from test/node, after npm ci)
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const pg = require('pg');
const pgvector = require('pgvector/pg');

const FLT_MAX = 3.4028234663852886e38;
const FLT_TRUE_MIN = 1.401298464324817e-45; // smallest subnormal float4

let client;
let vectorOid;

// node-postgres (pg 8) asks the server for binary results (`binary: true`)
// but its protocol parser decodes every DataRow field as a UTF-8 string, so
// bytes that are not valid UTF-8 come out as U+FFFD: binary results are
// lossy for arbitrary bytes.  To read vector_send's bytes for real off the
// wire, binaryQuery() makes the parser decode fields as latin1 (lossless)
// while it runs, and the parsers below undo pg's Buffer.from(string).
// The patched reader is the very copy pg loads.
const { BufferReader } = require(require.resolve('pg-protocol/dist/buffer-reader',
	{ paths: [require('node:path').dirname(require.resolve('pg'))] }));
let latin1Fields = false;
const originalString = BufferReader.prototype.string;
BufferReader.prototype.string = function (length) {
	if (!latin1Fields) return originalString.call(this, length);
	const result = this.buffer.toString('latin1', this.offset, this.offset + length);
	this.offset += length;
	return result;
};
// pg hands a binary field to the parser as Buffer.from(fieldString): undo it.
const rawBytes = (v) => Buffer.from(Buffer.from(v).toString('utf8'), 'latin1');

// ---- binary wire format: int16 dim, int16 unused (0), dim x float4 BE ----

function encodeBinary(values, { dim = values.length, unused = 0 } = {}) {
	const buf = Buffer.alloc(4 + 4 * values.length);
	buf.writeInt16BE(dim, 0);
	buf.writeInt16BE(unused, 2);
	values.forEach((v, i) => buf.writeFloatBE(v, 4 + 4 * i));
	return buf;
}

function decodeBinary(buf) {
	assert.ok(Buffer.isBuffer(buf), 'binary value is a Buffer');
	const dim = buf.readInt16BE(0);
	assert.equal(buf.readInt16BE(2), 0, 'unused field is 0');
	assert.equal(buf.length, 4 + 4 * dim, 'binary length matches dim');
	const out = [];
	for (let i = 0; i < dim; i++) out.push(buf.readFloatBE(4 + 4 * i));
	return out;
}

// Types for `binary: true` queries: vector -> raw Buffer (decoded by the
// test itself), everything else via pg's own binary parsers.
function binaryTypes(raw = false) {
	return {
		getTypeParser(oid, format) {
			if (format !== 'binary') return pg.types.getTypeParser(oid, format);
			if (oid === vectorOid) {
				return raw ? (v) => rawBytes(v) : (v) => decodeBinary(rawBytes(v));
			}
			const parse = pg.types.getTypeParser(oid, format);
			return (v) => parse(rawBytes(v));
		},
	};
}

// A query whose results come back in binary format (vector_send).
async function binaryQuery(config, { raw = false } = {}) {
	let result;
	latin1Fields = true;
	try {
		// extended protocol: the simple one has no way to ask for binary
		result = await client.query({ ...config, binary: true, queryMode: 'extended', types: binaryTypes(raw) });
	} finally {
		latin1Fields = false;
	}
	for (const f of result.fields) assert.equal(f.format, 'binary', `column ${f.name} came back in binary`);
	return result;
}

// Bitwise float4 equality (distinguishes -0 from 0).
function assertSameFloat32(actual, expected, msg) {
	assert.equal(actual.length, expected.length, `${msg}: length`);
	for (let i = 0; i < expected.length; i++) {
		const e = Math.fround(expected[i]);
		assert.ok(Object.is(Math.fround(actual[i]), e),
			`${msg}: element ${i} is ${actual[i]}, expected ${e}`);
	}
}

function sqlstateClass(err) {
	return err && typeof err.code === 'string' ? err.code.slice(0, 2) : String(err);
}

// Deterministic pseudo-random float4 values (xorshift32).
function randomFloats(n, seed) {
	let x = seed >>> 0 || 1;
	const out = [];
	const view = new DataView(new ArrayBuffer(4));
	while (out.length < n) {
		x ^= x << 13; x >>>= 0;
		x ^= x >>> 17;
		x ^= x << 5; x >>>= 0;
		view.setUint32(0, x);
		const f = view.getFloat32(0);
		if (Number.isFinite(f)) out.push(f);
	}
	return out;
}

before(async () => {
	client = new pg.Client();
	await client.connect();
	await client.query('SET client_min_messages = warning');
	await client.query('CREATE EXTENSION IF NOT EXISTS omendb');
	await pgvector.registerTypes(client);
	const r = await client.query("SELECT 'vector'::regtype::oid::int AS oid");
	vectorOid = r.rows[0].oid;
	await client.query('CREATE TEMP TABLE items (id serial PRIMARY KEY, v vector, v3 vector(3))');
});

after(async () => {
	if (client) await client.end();
});

test('text path: pgvector.toSql in, registerTypes parser out, exact values', async () => {
	// Each value here is the shortest decimal form of a float4, so the
	// text round trip must give back exactly the same JS number.
	const cases = [
		[1, 2, 3],
		[0.1, 0.2, 0.3],
		[1e-38, 3.4e38, -3.4e38],
		[-1.5, 0, 123456.5, 1e-45, 16777216],
	];
	for (const v of cases) {
		const ins = await client.query('INSERT INTO items (v) VALUES ($1) RETURNING id', [pgvector.toSql(v)]);
		const r = await client.query('SELECT v FROM items WHERE id = $1', [ins.rows[0].id]);
		assert.deepEqual(r.rows[0].v, v);
	}
});

test('text output is pgvector\'s: shortest float4 representation', async () => {
	const r = await client.query(
		"SELECT '[0.1, 1e-38, 3.4e38, -0, 1.5, 100, 1e7, 0.30000001]'::vector::text AS t");
	assert.equal(r.rows[0].t, '[0.1,1e-38,3.4e+38,-0,1.5,100,1e+07,0.3]');
});

test('text path keeps the sign of -0', async () => {
	// JSON.stringify(-0) is "0", so spell the literal by hand.
	const r = await client.query('SELECT $1::vector AS v', ['[-0,0]']);
	assert.ok(Object.is(r.rows[0].v[0], -0), 'first element is -0');
	assert.ok(Object.is(r.rows[0].v[1], 0), 'second element is +0');
});

test('text path: 1000 random float4 values survive exactly (as float4)', async () => {
	const v = randomFloats(1000, 12345);
	const r = await client.query('SELECT $1::vector AS v', [pgvector.toSql(v)]);
	assertSameFloat32(r.rows[0].v, v, 'random values');
});

test('harness self-check: binary results are read losslessly', async () => {
	// vector_send's bytes are compared byte for byte below; make sure the
	// binaryQuery() workaround itself loses nothing, on bytes that are not
	// valid UTF-8, and leaves text-format queries alone.
	const sent = Buffer.from([0x00, 0xff, 0x80, 0xc3, 0x28, 0xfe, 0x7f, 0xed, 0xa0, 0x80]);
	const r = await binaryQuery({ text: 'SELECT $1::vector AS v', values: [encodeBinary([sent.readFloatBE(0), 1e-38])] },
		{ raw: true });
	assert.equal(r.rows[0].v.length, 12);
	const r2 = await binaryQuery({ text: 'SELECT 200::int4 AS i, -70000::int4 AS j' });
	assert.deepEqual([r2.rows[0].i, r2.rows[0].j], [200, -70000]);
	const r3 = await client.query("SELECT 'héllo ✓' AS t");
	assert.equal(r3.rows[0].t, 'héllo ✓');
});

test('binary parameter (vector_recv): Buffer in, text out', async () => {
	const buf = encodeBinary([1, -2.5, 0.1]);
	const r = await client.query('SELECT $1::vector::text AS t', [buf]);
	assert.equal(r.rows[0].t, '[1,-2.5,0.1]');
});

test('binary result (vector_send): text in, binary out', async () => {
	const r = await binaryQuery({ text: "SELECT '[1,-2.5,0.1,-0]'::vector AS v" });
	assertSameFloat32(r.rows[0].v, [1, -2.5, 0.1, -0], 'binary result');
});

test('binary round trip is byte-exact for edge values', async () => {
	const edge = [1e-38, 3.4e38, -0, 0, 0.1, FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, -FLT_TRUE_MIN,
		1.1754942106924411e-38 /* largest subnormal */, 1.1754943508222875e-38 /* FLT_MIN */];
	const buf = encodeBinary(edge);
	const r = await binaryQuery({ text: 'SELECT $1::vector AS v', values: [buf] }, { raw: true });
	assert.ok(r.rows[0].v.equals(buf), `sent ${buf.toString('hex')}, got ${r.rows[0].v.toString('hex')}`);
	assertSameFloat32(decodeBinary(r.rows[0].v), edge, 'decoded');
});

test('binary in and text out agree on edge values', async () => {
	const buf = encodeBinary([1e-38, 3.4e38, -0, 0.1, FLT_MAX]);
	const r = await client.query('SELECT $1::vector AS v, $1::vector::text AS t', [buf]);
	assert.equal(r.rows[0].t, '[1e-38,3.4e+38,-0,0.1,3.4028235e+38]');
	assert.ok(Object.is(r.rows[0].v[2], -0), '-0 through the pgvector parser');
	assert.deepEqual(r.rows[0].v, [1e-38, 3.4e38, -0, 0.1, 3.4028235e38]);
});

test('stored through one format, read through the other', async () => {
	const a = [0.5, -0.25, 1e-38];
	const b = [3.4e38, 0.1, -0];
	const ins = await client.query(
		'INSERT INTO items (v, v3) VALUES ($1, $1), ($2, $2) RETURNING id',
		[pgvector.toSql(a), encodeBinary(b)]);
	const ids = ins.rows.map((row) => row.id);
	// both rows via binary
	const rb = await binaryQuery({
		text: 'SELECT id, v, v3 FROM items WHERE id = ANY($1::int[]) ORDER BY id',
		values: [`{${ids.join(',')}}`],
	});
	assert.deepEqual(rb.rows.map((row) => row.id), ids, 'int4 ids read in binary too');
	assertSameFloat32(rb.rows[0].v, a, 'text-stored, binary-read');
	assertSameFloat32(rb.rows[1].v3, b, 'binary-stored, binary-read (vector(3))');
	// both rows via text
	const rt = await client.query('SELECT v FROM items WHERE id = ANY($1::int[]) ORDER BY id',
		[`{${ids.join(',')}}`]);
	assert.deepEqual(rt.rows[0].v, a);
	assertSameFloat32(rt.rows[1].v, b, 'binary-stored, text-read');
	assert.ok(Object.is(rt.rows[1].v[2], -0));
});

test('binary path: a 16000-dimension vector round-trips', async () => {
	const v = randomFloats(16000, 777);
	const buf = encodeBinary(v);
	const r = await binaryQuery({ text: 'SELECT $1::vector AS v', values: [buf] }, { raw: true });
	assert.ok(r.rows[0].v.equals(buf));
});

test('distances through the client', async () => {
	const r = await client.query(
		'SELECT $1::vector <-> $2::vector AS l2, $1::vector <#> $2::vector AS nip, '
		+ '$1::vector <=> $2::vector AS cos, $1::vector <+> $2::vector AS l1',
		[encodeBinary([1, 2]), pgvector.toSql([4, 6])]);
	assert.equal(r.rows[0].l2, 5);
	assert.equal(r.rows[0].nip, -16);
	assert.equal(r.rows[0].l1, 7);
	assert.ok(Math.abs(r.rows[0].cos - (1 - 16 / (Math.sqrt(5) * Math.sqrt(52)))) < 1e-6);
});

test('bad binary payloads give clean class-22/54 errors, connection survives', async () => {
	const bad = [
		['dim 0', encodeBinary([], { dim: 0 })],
		['negative dim', encodeBinary([1], { dim: -1 })],
		['unused not 0', encodeBinary([1, 2], { unused: 1 })],
		['NaN', encodeBinary([1, NaN])],
		['Infinity', encodeBinary([Infinity])],
		['too many dims', encodeBinary(new Array(16001).fill(1))],
		['trailing bytes', Buffer.concat([encodeBinary([1]), Buffer.from([0, 0, 0, 0])])],
	];
	for (const [name, buf] of bad) {
		await assert.rejects(client.query('SELECT $1::vector', [buf]),
			(err) => ['22', '54'].includes(sqlstateClass(err)) || assert.fail(`${name}: ${err.code} ${err.message}`),
			name);
	}
	const r = await client.query('SELECT 1 AS one');
	assert.equal(r.rows[0].one, 1);
});

test('bad text literals give clean class-22/54 errors', async () => {
	for (const lit of ['', '[]', '[1,', '[1,,2]', '[nan]', '[inf]', '[1e39]', '[[1]]', '1,2', '[1] x']) {
		await assert.rejects(client.query('SELECT $1::vector', [lit]),
			(err) => ['22', '54'].includes(sqlstateClass(err)) || assert.fail(`${lit}: ${err.code} ${err.message}`),
			JSON.stringify(lit));
	}
});

test('typmod is enforced on both paths', async () => {
	await assert.rejects(client.query('INSERT INTO items (v3) VALUES ($1)', [pgvector.toSql([1, 2])]),
		(err) => sqlstateClass(err) === '22' || assert.fail(`${err.code} ${err.message}`));
	await assert.rejects(client.query('INSERT INTO items (v3) VALUES ($1)', [encodeBinary([1, 2, 3, 4])]),
		(err) => sqlstateClass(err) === '22' || assert.fail(`${err.code} ${err.message}`));
	const r = await client.query('INSERT INTO items (v3) VALUES ($1) RETURNING v3', [encodeBinary([1, 2, 3])]);
	assert.deepEqual(r.rows[0].v3, [1, 2, 3]);
});

test('named prepared statement reused across formats', async () => {
	const name = 'omendb_rt';
	for (const v of [[0.1, 0.2], [1e-38, -0], [3.4e38, 1]]) {
		const r = await client.query({ name, text: 'SELECT $1::vector AS v', values: [encodeBinary(v)] });
		assertSameFloat32(r.rows[0].v, v, `prepared ${JSON.stringify(v)}`);
	}
});
