# Reachability of an omendb graph from raw pages: psql -At -c "select b, encode(get_raw_page(INDEX, b::int), 'hex') from generate_series(0, pg_relation_size(INDEX)/8192 - 1) b" > pages.txt; python3 graph_reachability.py pages.txt [blk,off]  (layout of OMENDB_VERSION 1 as of commit 6006a4b)
import struct, sys, collections
pages = {}
for line in open(sys.argv[1]):
    b, h = line.rstrip('\n').split('|')
    pages[int(b)] = bytes.fromhex(h)
meta = pages[0]
# meta after page header (24 bytes): MAXALIGN(24)=24
m = meta[24:]
fields = struct.unpack_from('<IIHHHHHHfIIIHHIIIIIf', m, 0)
(magic, version, dims, metric, quant, R, maxdeg, L, alpha, code_size, label_size, node_size, npp, trained, nquant, first_node, entry, insert_block, nnodes, maxerr) = fields
print(dict(dims=dims, metric=metric, R=R, maxdeg=maxdeg, node_size=node_size, npp=npp, first_node=first_node, entry=entry, nnodes=nnodes))
nodes = {}
for b in sorted(pages):
    if b < first_node: continue
    p = pages[b]
    lower, = struct.unpack_from('<H', p, 12)
    nitems = (lower - 24) // 4
    for k in range(nitems):
        lp, = struct.unpack_from('<I', p, 24 + 4*k)
        off = lp & 0x7fff; ln = (lp >> 17) & 0x7fff
        nid = (b - first_node) * npp + k
        blkhi, blklo, posid, flags, unused, nn = struct.unpack_from('<HHHBBH', p, off)
        nbrs = struct.unpack_from('<%dI' % nn, p, off + 20)
        nodes[nid] = ((blkhi << 16 | blklo, posid), flags, nbrs)
indeg = collections.Counter()
for nid, (_, _, nb) in nodes.items():
    for x in nb: indeg[x] += 1
# reachability from entry
seen = {entry}; stack = [entry]
while stack:
    x = stack.pop()
    for y in nodes[x][2]:
        if y not in seen:
            seen.add(y); stack.append(y)
print('nodes', len(nodes), 'reachable', len(seen), 'zero in-degree', sum(1 for n in nodes if indeg[n] == 0))
target = sys.argv[2] if len(sys.argv) > 2 else None
if target:
    tid = tuple(map(int, target.split(',')))
    for nid, (t, f, nb) in nodes.items():
        if t == tid:
            print('node', nid, 'tid', t, 'flags', f, 'outdeg', len(nb), 'indeg', indeg[nid], 'reachable', nid in seen)
