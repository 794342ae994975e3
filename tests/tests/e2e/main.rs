//! End-to-end tests against the real binaries. Each test starts its own cluster on free
//! loopback ports; every wait is bounded by `weft_e2e::WAIT`.
mod auth;
mod backup;
mod bench;
mod chaos;
mod clients;
mod cluster_behaviour;
mod compose;
mod durability;
mod executor_safety;
mod fail_stop;
mod hostile_input;
mod leave;
mod limits;
mod metrics_cardinality;
mod monitoring;
mod overload;
mod power_loss;
mod quarantine;
mod read_committed;
mod reconnect;
mod routing_and_cancel;
mod scheduling;
mod support;
mod tls;
mod top;
mod upgrade;
