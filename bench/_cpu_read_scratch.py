"""scratch: server CPU ms per read (not committed)."""
import argparse, asyncio, random, sys, time
sys.path.insert(0, "bench")
from bench_server import bearer, running_server, _cpu_seconds
from lean_http import LeanClient
from pymongo import AsyncMongoClient
from search import seeded_mongo

async def run(uri, name, base, n, conc, pid):
    mongo = AsyncMongoClient(uri)
    ids = [d["_id"] async for d in mongo[name]["Patient"].find({}, {"_id": 1})]
    client = LeanClient(base, bearer(), conc)
    rng = random.Random(0)
    async def burst(count):
        left = [count]
        async def w():
            while left[0] > 0:
                left[0] -= 1
                s, b = await client.get(f"{base}/Patient/{rng.choice(ids)}")
                assert s == 200, (s, b[:300])
        await asyncio.gather(*(w() for _ in range(conc)))
    await burst(2000)
    for rep in range(3):
        c0 = _cpu_seconds(pid); t0 = time.perf_counter()
        await burst(n)
        c1 = _cpu_seconds(pid); t1 = time.perf_counter()
        print(f"server CPU per read {1000*(c1-c0)/n:.3f} ms, {n/(t1-t0):.0f} req/s", flush=True)
    await client.aclose(); await mongo.close()

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--conc", type=int, default=8)
    a = p.parse_args()
    args = argparse.Namespace(mongodb_uri=None, keep=True, seed=1)
    name = "bench_read_2000_1"
    with seeded_mongo(args, name, (2000, 0, 0)) as uri, running_server(uri, name) as (srv, base):
        asyncio.run(run(uri, name, base, a.n, a.conc, srv.pid))

main()
