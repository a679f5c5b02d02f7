//! The real `callflow-host` binary (cargo builds it for this package's integration
//! tests), started on a loopback port, spoken to over plain HTTP/1.1 and killed with
//! SIGKILL: what only a whole process can show. One binary, one module per concern; the
//! plugins come from `callflow-test-artifacts`, built from source once for every test
//! binary of the workspace.

/// Starting, talking to and killing the real binary.
mod support;

/// Three real nodes behind nginx on one redis-server: a killed node, a Redis restart.
mod cluster;
/// Connections that stall or trickle are cut off at their deadlines; a bound on them.
mod connections;
/// `dev` on a JavaScript plugin: served, rebuilt on save, the next call hears the edit.
mod dev;
/// A host told to stop drains: not ready, in-flight work finished, a clean exit.
mod drain;
/// A flood of bad input and chatty plugins leaves a bounded log; metrics count it all.
mod flood;
/// A killed host restarts with every number-masking booking, and logs no number.
mod masking_restart;
/// A host killed mid-upload serves the old version or the new one.
mod upload_kill;
