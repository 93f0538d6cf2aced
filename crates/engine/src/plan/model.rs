//! The plan: plain data saying what each root field needs, with every variable resolved and
//! every name checked against the compiled schema. Rendering turns it into SQL per dialect;
//! its `Debug` form is what plan tests assert.

use crate::request::OperationKind;
use crate::schema::{MutationOperation, ScalarKind};

/// What one operation needs, root fields in response order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kind: OperationKind,
    pub roots: Vec<Root>,
    /// Relations to a type in another database, in planning order; an
    /// [`Item::Remote`] names one by its index here.
    pub steps: Vec<Step>,
}

/// A dependent step: rows of a view in another database, read once the rows holding the
/// keys (`after`) have arrived, for all their keys at once, and spliced where each key was.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step whose rows hold this step's keys; `None` for a root field's statement.
    pub after: Option<usize>,
    /// The field's response keys from the root down (list positions are not known until
    /// the rows arrive), for messages and metrics.
    pub path: Vec<String>,
    /// The database the target type lives in.
    pub database: String,
    /// What to read there, per key: the same relation read as within one database.
    pub related: Related,
}

/// One root field of the response.
#[derive(Debug, Clone, PartialEq)]
pub struct Root {
    /// Response key (alias or field name).
    pub key: String,
    pub action: RootAction,
}

/// How a root field's value is produced.
#[derive(Debug, Clone, PartialEq)]
pub enum RootAction {
    /// `__typename` at the root: a constant.
    Typename(String),
    /// `__schema`/`__type`: answered from the schema, no database.
    Introspection,
    /// A read from a view.
    Fetch(Fetch),
    /// A call of a SQL function.
    Mutate(Mutate),
    /// A subscription: each event on a topic names an entity, read through its view
    /// (boxed: it is much larger than the other actions).
    Subscribe(Box<Subscribe>),
    /// A value known from the schema alone, as JSON text (`_service { sdl }`).
    Constant(String),
    /// `_entities(representations:)` (Apollo Federation): the rows come from the roots
    /// `parts` names (one `Fetch` per entity type, read with the other roots of its
    /// database), put in representation order by [`assemble_entities`](super::assemble_entities).
    Entities(Entities),
}

/// The entities of `_entities`, in representation order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entities {
    /// The hidden roots reading each entity type's rows (not in the response).
    pub parts: Vec<usize>,
    /// Per representation: which part holds its row and its key as [`key_text`] writes it.
    pub slots: Vec<(usize, String)>,
}

/// One text for a key's values, the same for a representation's (normalised as input) and
/// a row's: strings as they are, other JSON values as JSON, joined by a unit separator.
pub fn key_text<'a>(values: impl IntoIterator<Item = &'a serde_json::Value>) -> String {
    let parts: Vec<String> = values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    parts.join("\u{1f}")
}

/// What a subscription listens to and how each event's entity is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    pub field: String,
    /// The NATS subject (wildcards allowed) its events arrive on.
    pub topic: String,
    /// `INSERT`, `UPDATE` or `DELETE`: only events of that operation; `None`: all.
    pub operation: Option<String>,
    /// The entity's key field: an event names its entity by this data key.
    pub key: Target,
    /// The key an argument pins (`orderId: "…"`), so events of other entities are passed
    /// over without reading anything.
    pub key_value: Option<serde_json::Value>,
    /// One row of the entity's view with the selection, filtered by the other arguments;
    /// [`Subscribe::read`] adds the event's key.
    pub fetch: Fetch,
}

impl Subscribe {
    /// The read of the entity whose key is `key`, for one event.
    pub fn read(&self, key: serde_json::Value) -> Fetch {
        let by_key = Filter::Compare {
            target: self.key.clone(),
            op: Op::Eq,
            value: key,
        };
        let filter = match self.fetch.filter.clone() {
            None => by_key,
            Some(Filter::And(mut all)) => {
                all.insert(0, by_key);
                Filter::And(all)
            }
            Some(other) => Filter::And(vec![by_key, other]),
        };
        Fetch {
            filter: Some(filter),
            ..self.fetch.clone()
        }
    }
}

/// A read of one view, returning one JSON text value.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetch {
    /// GraphQL field name (for messages and metrics).
    pub field: String,
    pub database: String,
    pub view: String,
    pub shape: Shape,
    pub filter: Option<Filter>,
    pub order: Vec<OrderKey>,
    /// `_entities`' read of one entity type and key (a hidden root), `None` for every other
    /// read (boxed: rare and large).
    pub entity: Option<Box<EntityRead>>,
}

/// A hidden root's read of entities: each row comes as a JSON array `[object, key value…]`,
/// so that [`assemble_entities`](super::assemble_entities) puts the rows in representation
/// order by their keys without parsing the objects.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRead {
    /// The key's parts, where a row's `data` holds each.
    pub key: Vec<Target>,
    /// When the selection computes a field from `@requires` fields: the representations,
    /// joined to the rows by key.
    pub representations: Option<Representations>,
}

/// The representations an entity read joins to its rows, so that each row's computed
/// fields read the values its representation brought (`@requires`).
#[derive(Debug, Clone, PartialEq)]
pub struct Representations {
    /// A JSON array: per distinct key, the first representation's key and required fields
    /// (GraphQL names, values checked against their types).
    pub rows: serde_json::Value,
    /// Where a representation holds each part of the key (GraphQL names), in
    /// [`EntityRead::key`]'s order.
    pub key: Vec<Vec<String>>,
}

/// Single row, list, or Relay connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// At most one row (`LIMIT 1`); `null` when absent.
    One(Selection),
    /// Rows in order; `limit` is always set (`max_page_size` when the list takes no
    /// `limit` argument), so no list is unbounded.
    List {
        selection: Selection,
        limit: u64,
        offset: u64,
    },
    Connection(Connection),
}

/// A Relay connection read.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// Rows wanted (`first` or `last`).
    pub count: u64,
    /// Paginating backwards (`last`/`before`).
    pub backwards: bool,
    /// Decoded `after` cursor: the sort key values of the row to start after.
    pub after: Option<Vec<serde_json::Value>>,
    /// Decoded `before` cursor.
    pub before: Option<Vec<serde_json::Value>>,
    pub items: Vec<ConnectionItem>,
}

/// A selected field of a `<Type>Connection`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionItem {
    Typename {
        key: String,
        type_name: String,
    },
    TotalCount {
        key: String,
    },
    PageInfo {
        key: String,
        items: Vec<PageInfoItem>,
    },
    Edges {
        key: String,
        items: Vec<EdgeItem>,
    },
}

/// A selected field of `PageInfo`.
#[derive(Debug, Clone, PartialEq)]
pub enum PageInfoItem {
    Typename { key: String },
    HasNextPage { key: String },
    HasPreviousPage { key: String },
    StartCursor { key: String },
    EndCursor { key: String },
}

/// A selected field of a `<Type>Edge`.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeItem {
    Typename { key: String, type_name: String },
    Cursor { key: String },
    Node { key: String, selection: Selection },
}

/// The projection of one object: which keys, in selection order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub type_name: String,
    pub items: Vec<Item>,
}

/// One key of a projected object.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Typename {
        key: String,
    },
    /// A scalar, enum, or list of them, read from a JSON path of the current object.
    Value {
        key: String,
        path: Vec<String>,
        enum_map: Option<Vec<(String, String)>>,
    },
    /// A nested JSON object.
    Object {
        key: String,
        path: Vec<String>,
        selection: Selection,
    },
    /// A nested JSON array of objects.
    ObjectList {
        key: String,
        path: Vec<String>,
        selection: Selection,
    },
    /// Rows of another view in the same database, matched by key (boxed: it is much larger
    /// than the other items).
    Related {
        key: String,
        related: Box<Related>,
    },
    /// Rows of a view in another database: the statement yields a marker holding the local
    /// key, and the rows of [`Plan::steps`]`[step]` replace it.
    Remote {
        key: String,
        step: usize,
    },
    /// A computed field (`@computed(sql:)`): its expression, with the fields it reads, as a
    /// value of `kind`.
    Computed {
        key: String,
        parts: Vec<crate::schema::ComputedPart>,
        kind: ScalarKind,
    },
}

/// A relation read: rows of `view` whose `remote_key` equals the parent's `local_key`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Related {
    pub view: String,
    pub local_key: String,
    pub remote_key: String,
    pub list: bool,
    /// The list's `where`, on top of the key match; `None` for a single object.
    pub filter: Option<Filter>,
    /// Sort keys of a list (its `orderBy`, then the target's key fields as tie-breakers);
    /// empty for a single object.
    pub order: Vec<OrderKey>,
    /// Rows per parent: the list's `limit`, or `max_page_size` when none is given (a
    /// relation list is never unbounded); `None` for a single object (`LIMIT 1`).
    pub limit: Option<u64>,
    /// Rows per parent skipped before `limit`.
    pub offset: u64,
    pub selection: Selection,
}

/// Where a filter or sort key reads its value: a path in `data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub path: Vec<String>,
    pub kind: ScalarKind,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    Contains,
    IContains,
    StartsWith,
    EndsWith,
    Like,
    ILike,
}

impl Op {
    /// The operator named in a filter input.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "eq" => Self::Eq,
            "neq" => Self::Neq,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "in" => Self::In,
            "nin" => Self::Nin,
            "contains" => Self::Contains,
            "icontains" => Self::IContains,
            "startsWith" => Self::StartsWith,
            "endsWith" => Self::EndsWith,
            "like" => Self::Like,
            "ilike" => Self::ILike,
            _ => return None,
        })
    }
}

/// A boolean condition on rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    IsNull {
        target: Target,
        is_null: bool,
    },
    /// `value` is a JSON scalar, or an array for `In`/`Nin`; enums already hold stored values.
    Compare {
        target: Target,
        op: Op,
        value: serde_json::Value,
    },
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub target: Target,
    pub descending: bool,
    pub nulls_first: bool,
    /// False for a top-level field of a non-null type (a key, `createdAt: DateTime!`): it has
    /// no nulls to place, so a dialect that places them with an extra sort key (MySQL/MariaDB)
    /// leaves that key out and the sort can follow the column's index.
    pub nullable: bool,
}

/// A mutation: call `function`, then read the result through `view`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutate {
    pub field: String,
    pub database: String,
    pub function: String,
    pub operation: MutationOperation,
    /// Arguments by snake_case key, input objects flattened one level when they are the only
    /// argument; values are JSON with enum values already mapped to stored values.
    pub args: Vec<(String, serde_json::Value)>,
    /// All arguments as one JSON object (for functions taking a single `jsonb`).
    pub args_object: serde_json::Value,
    pub view: String,
    /// The key field matched against `mutation_response.entity_id` when reading back.
    pub key_field: String,
    pub list: bool,
    pub selection: Selection,
}
