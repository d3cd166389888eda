//! Unit tests of the pure parts: graph checks, the ready queue with
//! aging, the resource table, the state's counts.

use std::sync::Arc;

use serde_json::json;

use super::plan::{External, Plan};
use super::ready::ReadyQueue;
use super::resource::{Refusal, normalize};
use super::state::GraphState;
use super::*;
use crate::error::Error;
use crate::task::Task;

fn noop() -> Task {
    Task::action("noop", json!(null))
}

fn node(name: &str) -> GraphTask {
    GraphTask::new(name, noop())
}

#[test]
fn a_cycle_is_reported_with_the_names_in_it() {
    let mut g = TaskGraph::new();
    let a = g.add(node("a"));
    let b = g.add(node("b").after(a));
    let c = g.add(node("c").after(b));
    g.add(node("d").after(c));
    g.add_dependency(a, c).unwrap();
    match Plan::build(g) {
        Err(Error::DependencyCycle { path }) => assert_eq!(path, ["a", "c", "b", "a"]),
        other => panic!("expected a cycle, got {other:?}"),
    }
}

#[test]
fn a_task_depending_on_itself_is_a_cycle_of_one() {
    let mut g = TaskGraph::new();
    let a = g.add(node("a"));
    g.add_dependency(a, a).unwrap();
    match Plan::build(g) {
        Err(Error::DependencyCycle { path }) => assert_eq!(path, ["a", "a"]),
        other => panic!("expected a cycle, got {other:?}"),
    }
}

#[test]
fn a_long_chain_is_checked_without_recursion() {
    let mut g = TaskGraph::new();
    let mut last = g.add(node("0"));
    for i in 1..100_000 {
        last = g.add(node(&i.to_string()).after(last));
    }
    let plan = Plan::build(g).unwrap();
    assert_eq!(plan.deps(99_999), [99_998]);
    assert_eq!(plan.dependents(0), [1]);
}

#[test]
fn a_key_of_another_graph_is_a_dependency_outside_the_graph() {
    let mut other = TaskGraph::new();
    let foreign = other.add(node("x"));
    let mut g = TaskGraph::new();
    g.add(node("a").after(foreign));
    // Checked against the runtime's graphs at accept, not here.
    let plan = Plan::build(g).unwrap();
    assert_eq!(&*plan.nodes[0].externals, [External::Task(foreign)]);
    assert!(plan.deps(0).is_empty());
    // A key of the graph itself past its tasks names nothing.
    let mut g = TaskGraph::new();
    let beyond = crate::graph::TaskKey::new(g.id(), 5);
    g.add(node("a").after(beyond));
    match Plan::build(g) {
        Err(Error::UnknownDependency { task, dependency }) => {
            assert_eq!(task, "a");
            assert_eq!(dependency, beyond);
        }
        other => panic!("expected UnknownDependency, got {other:?}"),
    }
    let mut g = TaskGraph::new();
    let a = g.add(node("a"));
    assert!(matches!(
        g.add_dependency(foreign, a),
        Err(Error::UnknownTask(key)) if key == foreign
    ));
}

#[test]
fn names_are_unique_and_not_empty_and_limits_positive() {
    let invalid = |g: TaskGraph| match Plan::build(g) {
        Err(Error::InvalidTask(why)) => why,
        other => panic!("expected InvalidTask, got {other:?}"),
    };
    let mut g = TaskGraph::new();
    g.add(node("build"));
    g.add(node("build"));
    match Plan::build(g) {
        Err(e @ Error::DuplicateTask(_)) => {
            assert_eq!(
                e.to_string(),
                "a task named \"build\" is already in this graph"
            )
        }
        other => panic!("expected DuplicateTask, got {other:?}"),
    }
    let mut g = TaskGraph::new();
    g.add(node("a"));
    g.add(node(" "));
    assert_eq!(
        invalid(g),
        "graph task #1 has an empty name (names tell the runs and skip reasons apart)"
    );
    assert_eq!(
        invalid(TaskGraph::new().limit(0)),
        "graph limit must be at least 1 (got 0)"
    );
    assert_eq!(
        invalid(TaskGraph::new().aging(0)),
        "graph aging must be at least 1 (got 0)"
    );
}

#[test]
fn duplicate_dependencies_count_once_and_downstream_is_transitive() {
    let mut g = TaskGraph::new();
    let a = g.add(node("a"));
    let b = g.add(node("b").after(a).after(a));
    g.add(node("c").depends_on([a, b]));
    let d = g.add(node("d"));
    let listed: Vec<(TaskKey, &str)> = g.tasks().map(|(k, t)| (k, t.name())).collect();
    assert_eq!(listed.len(), 4);
    assert_eq!((listed[0], listed[3]), ((a, "a"), (d, "d")));
    let plan = Plan::build(g).unwrap();
    assert_eq!(plan.deps(1), [0]);
    assert_eq!(plan.downstream(0), [0, 1, 2]);
    assert_eq!(plan.downstream(3), [3]);
}

#[test]
fn ready_queue_orders_by_priority_then_arrival() {
    let mut q = ReadyQueue::new(16);
    q.push(0, Priority::Low, 1);
    q.push(1, Priority::Normal, 2);
    q.push(2, Priority::Critical, 3);
    q.push(3, Priority::High, 4);
    q.push(4, Priority::Critical, 5);
    let order: Vec<usize> = std::iter::from_fn(|| q.pop().map(|e| e.index())).collect();
    assert_eq!(order, [2, 4, 3, 1, 0]);
}

#[test]
fn aging_lets_a_low_task_pass_after_three_times_aging_critical_arrivals() {
    let aging = 4;
    let mut q = ReadyQueue::new(aging);
    q.push(0, Priority::Low, 1);
    // One critical task arrives after each start (a stream of them).
    let mut started = Vec::new();
    // Each arrives with the next sequence number, from 2.
    for (i, seq) in (1..=20).zip(2..) {
        q.push(i, Priority::Critical, seq);
        started.push(q.pop().unwrap().index());
    }
    let low_at = started.iter().position(|&i| i == 0).unwrap();
    // Critical tasks rank `seq - 3 * aging` and pass the low one (rank 1,
    // which wins ties by being older) while that is below 1: those with
    // seq 2 ..= 3 * aging.
    assert_eq!(low_at, 3 * aging as usize - 1);
}

#[test]
fn claims_are_merged_per_resource() {
    let claims = normalize(&[
        Resource::read("db"),
        Resource::cpu(1),
        Resource::write("db"),
        Resource::cpu(2),
        Resource::read("cfg"),
    ]);
    assert_eq!(
        claims.to_vec(),
        [
            Resource::read("cfg"),
            Resource::write("db"),
            Resource::cpu(3),
        ]
    );
}

#[test]
fn grants_are_all_or_nothing() {
    let table = Arc::new(ResourceTable::default());
    table.set_capacity(ResourceId::api("gh"), 2).unwrap();
    let readers = (
        table.try_grant("r1", &[Resource::read("db")]).unwrap(),
        table.try_grant("r2", &[Resource::read("db")]).unwrap(),
    );
    assert_eq!(table.usage(&ResourceId::lock("db")).shared, 2);
    // A writer needing db and the API gets neither while db is read.
    let both = [Resource::api("gh", 1), Resource::write("db")];
    match table.try_grant("w", &both) {
        Err(Refusal::Busy(ids)) => assert_eq!(ids, [ResourceId::lock("db")]),
        other => panic!("expected busy, got {other:?}"),
    }
    assert_eq!(table.usage(&ResourceId::api("gh")).units, 0, "nothing held");
    drop(readers);
    let writer = table.try_grant("w", &both).unwrap();
    assert!(table.try_grant("r", &[Resource::read("db")]).is_err());
    assert!(table.try_grant("a", &[Resource::api("gh", 1)]).is_ok());
    assert!(table.try_grant("a", &[Resource::api("gh", 2)]).is_err());
    drop(writer);
    assert_eq!(
        table.usage(&ResourceId::lock("db")),
        ResourceUsage::default()
    );
}

#[test]
fn impossible_claims_are_refused() {
    let table = ResourceTable::default();
    let refused = |claim: Resource| match table.check("t", &[claim]) {
        Err(Error::InvalidTask(why)) => why,
        other => panic!("expected InvalidTask, got {other:?}"),
    };
    assert_eq!(
        refused(Resource::memory(1 << 20)),
        "task \"t\" claims 1048576 units of memory, which has no capacity: \
         set one with orch.graphs().set_capacity"
    );
    assert_eq!(
        refused(Resource::api("x", 2)),
        "task \"t\" claims 2 units of API \"x\", more than its capacity of 1"
    );
    assert_eq!(
        refused(Resource::cpu(0)),
        "task \"t\" claims 0 units of CPU slots"
    );
    let config = |id: ResourceId, capacity: u64| match table.set_capacity(id, capacity) {
        Err(Error::InvalidConfig(why)) => why,
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    assert_eq!(
        config(ResourceId::lock("db"), 3),
        "lock \"db\" has no capacity: locks are claimed with read, write or exclusive"
    );
    assert_eq!(
        config(ResourceId::memory(), 0),
        "the capacity of memory must be at least 1"
    );
    table.set_capacity(ResourceId::memory(), 1 << 30).unwrap();
    table.check("t", &[Resource::memory(1 << 20)]).unwrap();
    // Exclusive use of a counted resource is all of it, whatever its size.
    table
        .check("t", &[Resource::exclusive(ResourceId::cpu())])
        .unwrap();
}

#[test]
fn state_counts_add_up_through_every_transition() {
    let mut s = GraphState::new(4);
    assert!(s.set_status(0, TaskStatus::Ready));
    assert!(s.set_status(0, TaskStatus::Running));
    s.tasks[0].duration = Some(std::time::Duration::from_millis(10));
    assert!(s.set_status(0, TaskStatus::TimedOut));
    assert!(!s.set_status(0, TaskStatus::Succeeded), "terminal stays");
    s.end_unrun(
        1,
        TaskStatus::Skipped,
        TaskError::skipped(TaskKey::new(0, 0), "a", TaskStatus::TimedOut),
    );
    assert!(s.set_status(2, TaskStatus::Ready));
    let st = s.stats;
    assert_eq!(
        (st.pending, st.ready, st.failed, st.timed_out, st.skipped),
        (2, 1, 1, 1, 1)
    );
    assert_eq!(
        st.pending + st.running + st.completed + st.failed + st.cancelled + st.skipped,
        st.total
    );
    assert_eq!(st.executed, 1);
    assert_eq!(st.avg_exec, std::time::Duration::from_millis(10));
    assert_eq!(
        s.tasks[1].error.as_ref().unwrap().message,
        "not run: \"a\" timed out"
    );
}

/// The store keeps its own mirrors of the graph's status, priority and
/// claims (so it does not import the graph): each must encode to the very
/// bytes the graph type did, or existing store files would not open, and
/// convert back to what it came from.
#[test]
fn stored_mirrors_encode_as_the_graph_types_did() {
    use crate::store::{StoredPriority, StoredResource, StoredTaskStatus};
    fn bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap()
    }
    let statuses = [
        TaskStatus::Pending,
        TaskStatus::Ready,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::TimedOut,
        TaskStatus::Cancelled,
        TaskStatus::Interrupted,
        TaskStatus::Skipped,
    ];
    for status in statuses {
        let stored = StoredTaskStatus::from(status);
        assert_eq!(bytes(&status), bytes(&stored), "{status}");
        assert_eq!(TaskStatus::from(stored), status);
        assert_eq!(stored.is_terminal(), status.is_terminal(), "{status}");
    }
    for priority in [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ] {
        let stored = StoredPriority::from(priority);
        assert_eq!(bytes(&priority), bytes(&stored), "{priority}");
        assert_eq!(Priority::from(stored), priority);
    }
    let claims = [
        Resource::read("db"),
        Resource::write("db"),
        Resource::exclusive("gpu"),
        Resource::cpu(2),
        Resource::memory(1 << 30),
        Resource::api("quota", 3),
    ];
    for claim in claims {
        let stored = StoredResource::from(&claim);
        assert_eq!(bytes(&claim), bytes(&stored), "{claim:?}");
        assert_eq!(Resource::from(&stored), claim);
    }
}

#[test]
fn a_plan_grows_with_new_tasks_that_depend_on_old_new_and_outside_ones() {
    let mut g = TaskGraph::new();
    let a = g.add(node("a"));
    let b = g.add(node("b").after(a));
    let plan = Plan::build(g).unwrap();
    let run = crate::run::RunId::new();
    let mut other = TaskGraph::new();
    let foreign = other.add(node("x"));
    let mut more = TaskGraph::new();
    let c = more.add(node("c").after(b).after_run(run));
    more.add(node("d").after(c).after(a).after(foreign));
    let grown = plan.extend(more).unwrap();
    assert_eq!(grown.len(), 4);
    assert_eq!(grown.deps(2), [1]);
    assert_eq!(grown.deps(3), [2, 0]);
    assert_eq!(grown.dependents(0), [1, 3]);
    assert_eq!(grown.dependents(1), [2]);
    assert_eq!(&*grown.nodes[2].externals, [External::Run(run)]);
    assert_eq!(&*grown.nodes[3].externals, [External::Task(foreign)]);
    // The old tasks are shared, not copied.
    assert!(Arc::ptr_eq(&plan.nodes[0], &grown.nodes[0]));
    assert_eq!(grown.key(3).graph(), plan.graph);
}

#[test]
fn growing_refuses_a_cycle_among_new_tasks_and_a_name_taken() {
    let mut g = TaskGraph::new();
    g.add(node("a"));
    let plan = Plan::build(g).unwrap();
    let mut more = TaskGraph::new();
    let x = more.add(node("x"));
    let y = more.add(node("y").after(x));
    more.add_dependency(x, y).unwrap();
    match plan.extend(more) {
        Err(Error::DependencyCycle { path }) => assert_eq!(path, ["x", "y", "x"]),
        other => panic!("expected DependencyCycle, got {other:?}"),
    }
    let mut more = TaskGraph::new();
    more.add(node("a"));
    assert!(matches!(plan.extend(more), Err(Error::DuplicateTask(name)) if name == "a"));
}
