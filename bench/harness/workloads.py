"""The five workloads (and W6, `--federation`'s): a fixed GraphQL document with variables for FraiseQL, the equivalent
document for the PostGraphile peer, and the checks that a response is a real answer.

A variable named in `random_id` takes a random order id on every request (the HTTP load
generator picks one from the dataset's ids; the pgbench ceiling computes one in SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

RANDOM_ID = "__RANDOM_ORDER_ID__"


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    query: str
    variables: dict[str, Any]
    peer_query: str
    peer_variables: dict[str, Any]
    # Which variable gets a random order id per request (None: the body never changes).
    random_id: str | None = None
    mutation: bool = False
    # data -> something comparable between FraiseQL and the peer (same rows, same order).
    summary: Callable[[dict], Any] = field(default=lambda d: None)
    peer_summary: Callable[[dict], Any] = field(default=lambda d: None)


def _rows(data: dict, key: str) -> list:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise ValueError(f"`{key}` is not a non-empty list")
    return value


def _one(data: dict, *path: str) -> dict:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, dict):
        raise ValueError(f"`{'.'.join(path)}` is not an object")
    return value


W1 = Workload(
    key="W1",
    title="list of 100 orders, 6 scalar fields",
    query="query W1($limit: Int!) { orders(limit: $limit) "
          "{ id identifier status total paid createdAt } }",
    variables={"limit": 100},
    peer_query="query W1($limit: Int!) { allTbOrdersList(first: $limit) "
               "{ id identifier status total paid createdAt } }",
    peer_variables={"limit": 100},
    summary=lambda d: len(_rows(d, "orders")),
    peer_summary=lambda d: len(_rows(d, "allTbOrdersList")),
)

W2 = Workload(
    key="W2",
    title="one order by random id",
    query="query W2($id: ID!) { order(id: $id) "
          "{ id identifier status total paid createdAt } }",
    variables={"id": RANDOM_ID},
    peer_query="query W2($id: UUID!) { tbOrderById(id: $id) "
               "{ id identifier status total paid createdAt } }",
    peer_variables={"id": RANDOM_ID},
    random_id="id",
    summary=lambda d: _one(d, "order")["identifier"],
    peer_summary=lambda d: _one(d, "tbOrderById")["identifier"],
)

W3 = Workload(
    key="W3",
    title="20 orders with nested customer (and its address) and items, 3 levels",
    query="query W3($limit: Int!) { orders(limit: $limit) { id identifier total "
          "customer { id name email address { city country } } "
          "items { sku name quantity unitPrice } } }",
    variables={"limit": 20},
    peer_query="query W3($limit: Int!) { allTbOrdersList(first: $limit) { id identifier total "
               "tbCustomerByFkCustomer { id name email city country } "
               "tbOrderItemsByFkOrderList { sku name quantity unitPrice } } }",
    peer_variables={"limit": 20},
    summary=lambda d: sorted(len(o["items"]) for o in _rows(d, "orders") if o["customer"]),
    peer_summary=lambda d: sorted(len(o["tbOrderItemsByFkOrderList"])
                                  for o in _rows(d, "allTbOrdersList")
                                  if o["tbCustomerByFkCustomer"]),
)

W4 = Workload(
    key="W4",
    title="filtered and sorted list: status = PAID and total >= 7000, newest first, 50",
    query="query W4($status: OrderStatus!, $minTotal: Decimal!, $limit: Int!) { "
          "orders(where: {status: {eq: $status}, total: {gte: $minTotal}}, "
          "orderBy: [{createdAt: DESC}], limit: $limit) "
          "{ id identifier status total createdAt } }",
    variables={"status": "PAID", "minTotal": "7000", "limit": 50},
    peer_query="query W4($status: String!, $minTotal: BigFloat!, $limit: Int!) { "
               "allTbOrdersList(filter: {status: {equalTo: $status}, "
               "total: {greaterThanOrEqualTo: $minTotal}}, "
               "orderBy: CREATED_AT_DESC, first: $limit) "
               "{ id identifier status total createdAt } }",
    peer_variables={"status": "paid", "minTotal": "7000", "limit": 50},
    summary=lambda d: [o["identifier"] for o in _rows(d, "orders")],
    peer_summary=lambda d: [o["identifier"] for o in _rows(d, "allTbOrdersList")],
)

W5 = Workload(
    key="W5",
    title="mutation through a SQL function: set a random order's status, read it back",
    query="mutation W5($id: ID!, $status: OrderStatus!) { "
          "updateOrderStatus(id: $id, status: $status) { id status paid } }",
    variables={"id": RANDOM_ID, "status": "SHIPPED"},
    peer_query="mutation W5($id: UUID!, $status: String!) { "
               "pglUpdateOrderStatus(input: {pId: $id, pStatus: $status}) "
               "{ tbOrder { id status paid } } }",
    peer_variables={"id": RANDOM_ID, "status": "shipped"},
    random_id="id",
    mutation=True,
    summary=lambda d: (_one(d, "updateOrderStatus")["status"], _one(d, "updateOrderStatus")["paid"]),
    peer_summary=lambda d: (_one(d, "pglUpdateOrderStatus", "tbOrder")["status"].upper(),
                            _one(d, "pglUpdateOrderStatus", "tbOrder")["paid"]),
)

ALL = {w.key: w for w in (W1, W2, W3, W4, W5)}


def _with_customers(data: dict) -> list:
    """(identifier, customer email) per order; every order has its customer in the dataset,
    so a null one means the relation was not read."""
    orders = _rows(data, "orders")
    if any(not isinstance(o.get("customer"), dict) for o in orders):
        raise ValueError("an order has no customer")
    return [(o["identifier"], o["customer"]["email"]) for o in orders]


# W6 runs only with --federation (bench/harness/federation.py): the same document with the
# customer in the orders' database, in a second PostgreSQL database, and on MariaDB.
W6 = Workload(
    key="W6",
    title="100 orders with their customer, the customer in the same or another database",
    query="query W6($limit: Int!) { orders(limit: $limit) "
          "{ id identifier customer { id name email } } }",
    variables={"limit": 100},
    peer_query="query W6($limit: Int!) { allTbOrdersList(first: $limit) "
               "{ id identifier tbCustomerByFkCustomer { id name email } } }",
    peer_variables={"limit": 100},
    summary=_with_customers,
)


def with_id(variables: dict[str, Any], order_id: str) -> dict[str, Any]:
    """The variables with every random-id placeholder replaced by `order_id`."""
    return {k: (order_id if v == RANDOM_ID else v) for k, v in variables.items()}
