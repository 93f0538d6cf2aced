"""The benchmark dataset: customers, orders and order items, deterministic from a seed.

Every random choice comes from one hash-based generator that PostgreSQL (in SQL, so 1M
items load in seconds) and Python (for SQLite and MariaDB) compute identically:

    H(tag, n)   = md5("<seed>:<tag>:<n>") as 32 hex digits
    U(h, k)     = the k-th 32-bit word of h (k = 0..3), unsigned
    P(h, k, m)  = (U(h, k) * m) >> 32, uniform in [0, m), integer-exact on both sides
    UUID(tag,n) = H(tag, n) formatted 8-4-4-4-12

So the order with key n has id UUID("order-id", n): the pgbench ceiling computes a random
order's id from a random n in SQL, and the HTTP load generator reads the same ids from a file.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import mariadb, pg

DB_DIR = Path(__file__).resolve().parent.parent / "db"

FIRST = ["Ada", "Alan", "Barbara", "Claude", "Dennis", "Donald", "Edsger", "Frances", "Grace",
         "Guido", "Hedy", "Ivan", "James", "Jean", "John", "Ken", "Leslie", "Linus", "Lynn",
         "Margaret", "Mary", "Niklaus", "Radia", "Rich", "Robin", "Shafi", "Sophie", "Tim",
         "Tony", "Whitfield", "Yukihiro", "Anders", "Bjarne", "Brian", "Carol", "Dana",
         "Evelyn", "Fran", "Gordon", "Hal", "Irene", "Joan", "Karen", "Lois", "Marvin",
         "Nancy", "Olga", "Peter", "Rosa", "Susan"]
LAST = ["Lovelace", "Turing", "Liskov", "Shannon", "Ritchie", "Knuth", "Dijkstra", "Allen",
        "Hopper", "Rossum", "Lamarr", "Sutherland", "Gosling", "Sammet", "McCarthy",
        "Thompson", "Lamport", "Torvalds", "Conway", "Hamilton", "Keller", "Wirth",
        "Perlman", "Hickey", "Milner", "Goldwasser", "Wilson", "Berners-Lee", "Hoare",
        "Diffie", "Matsumoto", "Hejlsberg", "Stroustrup", "Kernighan", "Shaw", "Scott",
        "Boyd", "Allen", "Moore", "Abelson", "Greif", "Clarke", "Jones", "Haibt", "Minsky",
        "Lynch", "Ladygina", "Naur", "Peter", "Graham"]
STREETS = ["High Street", "Station Road", "Main Street", "Park Avenue", "Church Lane",
           "Mill Road", "Victoria Road", "Green Lane", "King Street", "Queen Street",
           "Rue de la Paix", "Avenue Foch", "Hauptstrasse", "Bahnhofstrasse", "Calle Mayor",
           "Via Roma", "Kerkstraat", "Storgatan", "Ulica Dluga", "Rua Augusta"]
CITIES = [("London", "United Kingdom"), ("Manchester", "United Kingdom"), ("Paris", "France"),
          ("Lyon", "France"), ("Berlin", "Germany"), ("Munich", "Germany"), ("Madrid", "Spain"),
          ("Barcelona", "Spain"), ("Rome", "Italy"), ("Milan", "Italy"),
          ("Amsterdam", "Netherlands"), ("Utrecht", "Netherlands"), ("Stockholm", "Sweden"),
          ("Gothenburg", "Sweden"), ("Warsaw", "Poland"), ("Krakow", "Poland"),
          ("Lisbon", "Portugal"), ("Porto", "Portugal"), ("Dublin", "Ireland"),
          ("Vienna", "Austria"), ("Zurich", "Switzerland"), ("Brussels", "Belgium"),
          ("Copenhagen", "Denmark"), ("Oslo", "Norway"), ("Helsinki", "Finland")]
ADJECTIVES = ["Compact", "Wireless", "Ergonomic", "Refurbished", "Premium", "Portable",
              "Classic", "Heavy-duty", "Recycled", "Smart", "Mini", "Pro", "Vintage",
              "Foldable", "Waterproof", "Organic", "Silent", "Modular", "Bamboo", "Steel"]
NOUNS = ["Keyboard", "Mouse", "Monitor", "Desk Lamp", "Notebook", "Pen Set", "Headset",
         "USB Hub", "Chair Mat", "Backpack", "Mug", "Tea Sampler", "Cable", "Charger",
         "Speaker", "Webcam", "Microphone", "Laptop Stand", "Sleeve", "Stylus", "Tripod",
         "SSD", "Router", "Docking Station", "Desk Mat", "Water Bottle", "Plant Pot",
         "Whiteboard", "Label Printer", "Paper Shredder"]
NOTES = ["Leave at the front door", "Gift wrap please", "Call before delivery",
         "Deliver to reception", "Fragile", "No plastic packaging please",
         "Ring the bell twice", "Leave with a neighbour"]

PRODUCTS = 1000
MAX_ITEMS = 19  # items per order: 1 + P(h, 3, 19), 10 on average
CUSTOMER_EPOCH = datetime(2022, 1, 1, tzinfo=timezone.utc)
ORDER_EPOCH = datetime(2023, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = 730 * 86400


@dataclass(frozen=True)
class Sizes:
    """Row counts at a scale; 1.0 = 10k customers, 100k orders, about 1M items."""

    customers: int
    orders: int

    @staticmethod
    def at(scale: float) -> "Sizes":
        return Sizes(customers=max(10, round(10_000 * scale)), orders=max(20, round(100_000 * scale)))


def status_of(x: int) -> str:
    """Order status from P(h, 1, 100): 15% pending, 25% paid, 50% shipped, 10% cancelled."""
    return "pending" if x < 15 else "paid" if x < 40 else "shipped" if x < 90 else "cancelled"


# ---------------------------------------------------------------------------------------
# PostgreSQL: the same rules in SQL.

def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(pg.literal(v) for v in values) + "]::text[]"


def postgres_generator(seed: int, sizes: Sizes) -> str:
    """The SQL that fills the tables of postgres.sql."""
    s = int(seed)
    return f"""
CREATE SCHEMA bench_gen;
CREATE FUNCTION bench_gen.pick(h text, k int, m bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (('x' || substr(h, 1 + 8 * k, 8))::bit(32)::bigint * m) >> 32 $$;
CREATE TABLE bench_gen.lists AS SELECT
    {_array(FIRST)} AS first, {_array(LAST)} AS last, {_array(STREETS)} AS street,
    {_array([c for c, _ in CITIES])} AS city, {_array([c for _, c in CITIES])} AS country,
    {_array(ADJECTIVES)} AS adjective, {_array(NOUNS)} AS noun, {_array(NOTES)} AS note;

INSERT INTO tb_customer
SELECT g.n,
       md5('{s}:customer-id:' || g.n)::uuid,
       f.first || ' ' || f.last,
       lower(f.first) || '.' || lower(f.last) || '.' || g.n || '@example.com',
       CASE WHEN bench_gen.pick(g.h, 2, 100) < 20 THEN 'pro' ELSE 'free' END,
       (1 + bench_gen.pick(g.a, 0, 250)) || ' ' || l.street[1 + bench_gen.pick(g.a, 1, {len(STREETS)})],
       l.city[1 + f.ci],
       (10000 + bench_gen.pick(g.a, 3, 90000))::text,
       l.country[1 + f.ci],
       timestamptz '2022-01-01 00:00:00+00' + bench_gen.pick(g.h, 3, {SPAN_SECONDS}) * interval '1 second'
FROM (SELECT n, md5('{s}:customer:' || n) AS h, md5('{s}:address:' || n) AS a
      FROM generate_series(1, {sizes.customers}) n) g
CROSS JOIN bench_gen.lists l
CROSS JOIN LATERAL (SELECT l.first[1 + bench_gen.pick(g.h, 0, {len(FIRST)})] AS first,
                           l.last[1 + bench_gen.pick(g.h, 1, {len(LAST)})] AS last,
                           bench_gen.pick(g.a, 2, {len(CITIES)}) AS ci) f;

CREATE TABLE bench_gen.product AS
SELECT p, 'SKU-' || lpad((p + 1)::text, 5, '0') AS sku,
       l.adjective[1 + bench_gen.pick(h, 0, {len(ADJECTIVES)})] || ' ' || l.noun[1 + bench_gen.pick(h, 1, {len(NOUNS)})] AS name,
       ((100 + bench_gen.pick(h, 2, 19901)) / 100.0)::numeric(10, 2) AS price
FROM (SELECT p, md5('{s}:product:' || p) AS h FROM generate_series(0, {PRODUCTS - 1}) p) g
CROSS JOIN bench_gen.lists l;

INSERT INTO tb_order_item
SELECT (o.n - 1) * {MAX_ITEMS} + k,
       md5('{s}:item-id:' || ((o.n - 1) * {MAX_ITEMS} + k))::uuid,
       o.n, k, p.sku, p.name, 1 + bench_gen.pick(x.ih, 1, 5), p.price
FROM generate_series(1, {sizes.orders}) o(n)
CROSS JOIN LATERAL generate_series(1, 1 + bench_gen.pick(md5('{s}:order:' || o.n), 3, {MAX_ITEMS})) k
CROSS JOIN LATERAL (SELECT md5('{s}:item:' || o.n || ':' || k) AS ih) x
JOIN bench_gen.product p ON p.p = bench_gen.pick(x.ih, 0, {PRODUCTS});

INSERT INTO tb_order
SELECT g.n,
       md5('{s}:order-id:' || g.n)::uuid,
       'ORD-' || lpad(g.n::text, 7, '0'),
       c.pk_customer,
       st.status,
       t.total,
       st.status IN ('paid', 'shipped'),
       CASE WHEN bench_gen.pick(g.nh, 0, 100) < 30 THEN l.note[1 + bench_gen.pick(g.nh, 1, {len(NOTES)})] END,
       c.street, c.city, c.postal_code, c.country,
       timestamptz '2023-01-01 00:00:00+00' + bench_gen.pick(g.h, 2, {SPAN_SECONDS}) * interval '1 second'
FROM (SELECT n, md5('{s}:order:' || n) AS h, md5('{s}:order-note:' || n) AS nh
      FROM generate_series(1, {sizes.orders}) n) g
JOIN tb_customer c ON c.pk_customer = 1 + bench_gen.pick(g.h, 0, {sizes.customers})
JOIN (SELECT fk_order, sum(quantity * unit_price) AS total FROM tb_order_item GROUP BY fk_order) t
  ON t.fk_order = g.n
CROSS JOIN bench_gen.lists l
CROSS JOIN LATERAL (SELECT CASE WHEN x < 15 THEN 'pending' WHEN x < 40 THEN 'paid'
                                WHEN x < 90 THEN 'shipped' ELSE 'cancelled' END AS status
                    FROM (SELECT bench_gen.pick(g.h, 1, 100) AS x) y) st;

DROP SCHEMA bench_gen CASCADE;
"""


def create_postgres(admin_url: str, database: str, seed: int, sizes: Sizes, log) -> str:
    """Drops and recreates `database`, loads schema and data; returns its URL."""
    url = pg.with_database(admin_url, database)
    started = time.monotonic()
    pg.run_script(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE);\n'
                             f'CREATE DATABASE "{database}";\n')
    pg.run_script(url, (DB_DIR / "postgres.sql").read_text())
    pg.run_script(url, postgres_generator(seed, sizes))
    pg.run_script(url, (DB_DIR / "postgres_indexes.sql").read_text())
    pg.run_script(url, (DB_DIR / "postgres_projections.sql").read_text())
    counts = pg.rows(url, "SELECT (SELECT count(*) FROM tb_customer), (SELECT count(*) FROM tb_order), "
                          "(SELECT count(*) FROM tb_order_item)")[0]
    log(f"PostgreSQL database {database}: {counts[0]} customers, {counts[1]} orders, "
        f"{counts[2]} items in {time.monotonic() - started:.1f} s")
    return url


# ---------------------------------------------------------------------------------------
# Python (SQLite): the same rules, row by row.

class _Gen:
    def __init__(self, seed: int):
        self.prefix = f"{int(seed)}:"

    def h(self, tag: str, n) -> str:
        return hashlib.md5(f"{self.prefix}{tag}:{n}".encode()).hexdigest()

    @staticmethod
    def pick(h: str, k: int, m: int) -> int:
        return (int(h[8 * k: 8 * k + 8], 16) * m) >> 32

    def uuid(self, tag: str, n) -> str:
        h = self.h(tag, n)
        return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _stamp(epoch: datetime, seconds: int) -> str:
    return (epoch + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def order_id(seed: int, n: int) -> str:
    """The id of the order with key n (as the generators make it)."""
    return _Gen(seed).uuid("order-id", n)


def _generate(seed: int, sizes: Sizes):
    """Every row of the three tables, as (table, row) with the values in the tables' column
    order: customers first, then each order's items followed by the order. Timestamps are
    ISO-8601 UTC text, decimals integer cents, booleans 0/1; the loaders below format them
    for their database."""
    g = _Gen(seed)
    customers = []
    for n in range(1, sizes.customers + 1):
        h, a = g.h("customer", n), g.h("address", n)
        first, last = FIRST[g.pick(h, 0, len(FIRST))], LAST[g.pick(h, 1, len(LAST))]
        city, country = CITIES[g.pick(a, 2, len(CITIES))]
        row = (
            n, g.uuid("customer-id", n), f"{first} {last}",
            f"{first.lower()}.{last.lower()}.{n}@example.com",
            "pro" if g.pick(h, 2, 100) < 20 else "free",
            f"{1 + g.pick(a, 0, 250)} {STREETS[g.pick(a, 1, len(STREETS))]}",
            city, str(10000 + g.pick(a, 3, 90000)), country,
            _stamp(CUSTOMER_EPOCH, g.pick(h, 3, SPAN_SECONDS)),
        )
        customers.append(row)
        yield "tb_customer", row

    products = []
    for p in range(PRODUCTS):
        h = g.h("product", p)
        products.append((f"SKU-{p + 1:05d}",
                         f"{ADJECTIVES[g.pick(h, 0, len(ADJECTIVES))]} {NOUNS[g.pick(h, 1, len(NOUNS))]}",
                         100 + g.pick(h, 2, 19901)))

    for n in range(1, sizes.orders + 1):
        h, nh = g.h("order", n), g.h("order-note", n)
        total_cents = 0
        for k in range(1, 2 + g.pick(h, 3, MAX_ITEMS)):
            ih = g.h("item", f"{n}:{k}")
            sku, name, cents = products[g.pick(ih, 0, PRODUCTS)]
            quantity = 1 + g.pick(ih, 1, 5)
            total_cents += quantity * cents
            pk = (n - 1) * MAX_ITEMS + k
            yield "tb_order_item", (pk, g.uuid("item-id", pk), n, k, sku, name, quantity, cents)
        c = customers[g.pick(h, 0, sizes.customers)]
        status = status_of(g.pick(h, 1, 100))
        note = NOTES[g.pick(nh, 1, len(NOTES))] if g.pick(nh, 0, 100) < 30 else None
        yield "tb_order", (
            n, g.uuid("order-id", n), f"ORD-{n:07d}", c[0], status, total_cents,
            1 if status in ("paid", "shipped") else 0, note, c[5], c[6], c[7], c[8],
            _stamp(ORDER_EPOCH, g.pick(h, 2, SPAN_SECONDS)),
        )


# Which values of a generated row are cents (decimals) and timestamps, per table.
_CENTS = {"tb_order": 5, "tb_order_item": 7}
_STAMPS = {"tb_customer": 9, "tb_order": 12}


def create_sqlite(path: Path, seed: int, sizes: Sizes, log) -> None:
    """Writes the same rows as create_postgres into a new SQLite file at `path`."""
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.executescript((DB_DIR / "sqlite.sql").read_text())
    batches: dict[str, list[tuple]] = {"tb_customer": [], "tb_order_item": [], "tb_order": []}

    def flush(table: str) -> None:
        rows = batches[table]
        if rows:
            marks = ",".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            rows.clear()

    for table, row in _generate(seed, sizes):
        if table in _CENTS:
            i = _CENTS[table]
            row = row[:i] + (row[i] / 100,) + row[i + 1:]
        batches[table].append(row)
        if len(batches[table]) > 200_000:
            flush(table)
    for table in batches:
        flush(table)
    con.executescript((DB_DIR / "sqlite_indexes.sql").read_text())
    con.commit()
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    tmp.replace(path)
    log(f"SQLite database {path}: {sizes.customers} customers, {sizes.orders} orders "
        f"in {time.monotonic() - started:.1f} s")


def _tsv_value(table: str, i: int, value) -> str:
    """One value for LOAD DATA's default format (tab-separated, `\\N` for NULL)."""
    if value is None:
        return "\\N"
    if _CENTS.get(table) == i:
        return f"{value // 100}.{value % 100:02d}"
    if _STAMPS.get(table) == i:
        return value.replace("T", " ").rstrip("Z")
    text = str(value)
    if any(ch in text for ch in "\t\n\\"):
        raise ValueError(f"{table}: a value LOAD DATA would need escaped: {text!r}")
    return text


def create_mariadb(admin_url: str, database: str, seed: int, sizes: Sizes, work_dir: Path,
                   log) -> str:
    """Drops and recreates `database` on MariaDB with the same rows as create_postgres
    (generated here, written to tab-separated files in `work_dir`, loaded with LOAD DATA);
    returns its URL."""
    url = pg.with_database(admin_url, database)
    started = time.monotonic()
    mariadb.run_script(admin_url, f"DROP DATABASE IF EXISTS `{database}`;\n"
                                  f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 "
                                  "COLLATE utf8mb4_nopad_bin;\n")
    mariadb.run_script(url, (DB_DIR / "mariadb.sql").read_text())
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = {t: work_dir / f"mariadb_{t}.tsv" for t in ("tb_customer", "tb_order_item", "tb_order")}
    files = {t: open(p, "w") for t, p in paths.items()}
    try:
        for table, row in _generate(seed, sizes):
            files[table].write("\t".join(_tsv_value(table, i, v) for i, v in enumerate(row)) + "\n")
    finally:
        for f in files.values():
            f.close()
    load = "".join(f"LOAD DATA LOCAL INFILE {pg.literal(str(p))} INTO TABLE {t} CHARACTER SET utf8mb4;\n"
                   for t, p in paths.items())
    mariadb.run_script(url, load)
    for p in paths.values():
        p.unlink()
    mariadb.run_script(url, (DB_DIR / "mariadb_indexes.sql").read_text())
    counts = mariadb.rows(url, "SELECT (SELECT count(*) FROM tb_customer), (SELECT count(*) FROM tb_order), "
                               "(SELECT count(*) FROM tb_order_item)")[0]
    log(f"MariaDB database {database}: {counts[0]} customers, {counts[1]} orders, "
        f"{counts[2]} items in {time.monotonic() - started:.1f} s")
    return url
