//! The actors faults can target, with the message kinds each handles.
//!
//! Written out here rather than read from each actor's `KINDS`: the fault
//! plan sits below the context, and the actors above it, so it must not
//! import them. `fault/tests.rs` checks this table against every actor's
//! name and `KINDS`, so the two cannot drift apart.

/// Child names (plus "pool_worker") and the message kinds each handles, in
/// the order the supervisor starts them.
pub(super) const TARGETS: &[(&str, &[&str])] = &[
    ("executor", &["Run", "Stream", "Status"]),
    ("batch", &["Start", "StartGraph", "Status"]),
    ("launcher", &["Launch", "Status"]),
    (
        "scheduler",
        &[
            "Add",
            "SetEnabled",
            "Remove",
            "TriggerNow",
            "Backfill",
            "Tick",
            "Status",
        ],
    ),
    (
        "pool_keeper",
        &[
            "Open",
            "Resize",
            "Close",
            "Respawn",
            "Status",
            "WorkerEnded",
        ],
    ),
    ("pool_worker", &["Retire"]),
];

/// The targets that start no runs (so `PanicInRun` cannot hit them).
pub(super) const POOLS: [&str; 2] = ["pool_keeper", "pool_worker"];
