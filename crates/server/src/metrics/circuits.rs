//! `fraiseql_federation_circuit_breaker_state`: one gauge family whose series carry either a
//! `database` label (a database's breaker) or an `entity` label (the breaker that guards an
//! Apollo Federation entity's `_entities` reads: its own, or its database's). The
//! `prometheus` crate's vectors hold one set of label names per metric name, and a registry
//! refuses a second registration of the name with other labels, so this is a collector of
//! its own; the text format allows series of one family to differ in their labels. Set by
//! `resilience.rs` on each change of a circuit's state (and once at start, closed).

use crate::resilience::Circuit;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const NAME: &str = "fraiseql_federation_circuit_breaker_state";
const HELP: &str = "Circuit breaker state: 0 closed, 1 open, 2 half-open; per database \
                    (label database) and per Apollo Federation entity (label entity: the \
                    breaker guarding its _entities reads, its own or its database's)";

/// The gauge's series by (label name, label value). Cheap to clone: clones share them.
#[derive(Clone)]
pub(crate) struct CircuitStates {
    desc: Arc<Desc>,
    series: Arc<Mutex<BTreeMap<(&'static str, String), i64>>>,
}

impl CircuitStates {
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        // No variable labels declared: the series differ in theirs, which only `collect`
        // says (the registry checks names and help against other collectors, not series).
        let desc = Desc::new(NAME.into(), HELP.into(), Vec::new(), Default::default())?;
        Ok(Self {
            desc: Arc::new(desc),
            series: Arc::default(),
        })
    }

    /// The state of `circuit`'s series (its name comes from the config or the schema: a
    /// closed set).
    pub(crate) fn set(&self, circuit: Circuit<'_>, state: i64) {
        let key = match circuit {
            Circuit::Database(name) => ("database", name.to_owned()),
            Circuit::Entity(name) => ("entity", name.to_owned()),
        };
        self.series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, state);
    }
}

impl Collector for CircuitStates {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let metrics = series
            .iter()
            .map(|((label, value), state)| {
                let mut pair = LabelPair::default();
                pair.set_name((*label).to_owned());
                pair.set_value(value.clone());
                let mut gauge = Gauge::default();
                gauge.set_value(*state as f64);
                let mut metric = Metric::from_label(vec![pair]);
                metric.set_gauge(gauge);
                metric
            })
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(NAME.to_owned());
        family.set_help(HELP.to_owned());
        family.set_field_type(MetricType::GAUGE);
        family.set_metric(metrics);
        vec![family]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, Registry, TextEncoder};

    #[test]
    fn one_family_holds_database_and_entity_series_in_valid_text() {
        let registry = Registry::new();
        let states = CircuitStates::new().expect("desc");
        registry
            .register(Box::new(states.clone()))
            .expect("register");
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("encode");
        assert_eq!(out, b"", "no series, no family");

        states.set(Circuit::Database("primary"), 0);
        states.set(Circuit::Entity("Order"), 1);
        states.set(Circuit::Entity("Customer"), 0);
        states.set(Circuit::Entity("Order"), 2);
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("encode");
        let text = String::from_utf8(out).expect("UTF-8");
        let expected = format!(
            "# HELP {NAME} {HELP}\n# TYPE {NAME} gauge\n\
             {NAME}{{entity=\"Customer\"}} 0\n\
             {NAME}{{entity=\"Order\"}} 2\n\
             {NAME}{{database=\"primary\"}} 0\n"
        );
        assert_eq!(text, expected);
    }
}
